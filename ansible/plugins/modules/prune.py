#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: prune
short_description: Remove old artifact bundle versions from an HPE Image Streamer
description:
  - Runs C(i3s-bundle prune), which deletes the bundles C(<name>_<version>) beyond the newest
    O(keep) of each name and the artifacts only they brought, never one a deployment plan, a
    server profile template or a server profile still uses (those are returned with the reason).
  - Check mode runs C(i3s-bundle prune --dry-run).
  - Safe to run again after a failure midway.
version_added: 0.1.0
author:
  - i3s-bundle maintainers (!UNKNOWN)
options:
  keep:
    description:
      - Versions to keep per bundle name (the newest).
    type: int
    required: true
extends_documentation_fragment:
  - hpe_i3s.bundle.connection
attributes:
  check_mode:
    description: Runs the binary's read-only mode and reports what would change.
    support: full
  diff_mode:
    description: Returns each change before and after.
    support: full
'''

EXAMPLES = r'''
- name: Keep the three newest versions of each bundle
  hpe_i3s.bundle.prune:
    keep: 3
  delegate_to: localhost
'''

RETURN = r'''
objects:
  description: What goes (action delete) and what stays (action keep), each with the reason.
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpe_i3s.bundle.plugins.module_utils.i3s_bundle import (
    connection_argument_spec, fail, run_tool)


def main():
    spec = connection_argument_spec()
    spec.update(keep=dict(type='int', required=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    args = ['prune', '--keep', str(module.params['keep'])]
    if module.check_mode:
        args.append('--dry-run')
    rc, report, err = run_tool(module, args)
    if rc != 0 or report is None:
        fail(module, rc, report, err, 'prune')
    objects = report.get('objects', [])
    result = dict(changed=bool(report.get('changed')), objects=objects)
    if module._diff:
        deleted = ['%s %s' % (o['kind'], o['name']) for o in objects if o['action'] == 'delete']
        present = deleted + ['%s %s' % (o['kind'], o['name']) for o in objects if o['action'] == 'keep']
        result['diff'] = dict(before='\n'.join(sorted(present)) + '\n',
                              after='\n'.join(sorted(set(present) - set(deleted))) + '\n')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
