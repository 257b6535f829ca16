#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: status_info
short_description: Whether an HPE Image Streamer holds what the bundles say
description:
  - Runs C(i3s-bundle status), which reads only, and returns each artifact of the bundles as
    C(equal), C(changed) (with the fields that differ), C(missing) or C(extra) on the appliance.
  - Drift is a result, not a failure; the task fails only when the comparison cannot be made.
version_added: 0.1.0
author:
  - i3s-bundle maintainers (!UNKNOWN)
options:
  bundles:
    description:
      - Bundle zips to compare. Empty compares every zip in O(dist).
    type: list
    elements: path
    default: []
  dist:
    description:
      - Where the built bundle zips are, used when O(bundles) is empty.
    type: path
    default: dist
extends_documentation_fragment:
  - hpe_i3s.bundle.connection
attributes:
  check_mode:
    description: Reads only (this module never writes).
    support: full
'''

EXAMPLES = r'''
- name: Find appliances that drifted from git
  hpe_i3s.bundle.status_info:
    dist: "{{ playbook_dir }}/dist"
  register: status
  delegate_to: localhost

- name: Say which
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} has drifted"
  when: not status.in_sync
'''

RETURN = r'''
in_sync:
  description: No artifact is changed, missing or extra.
  returned: success
  type: bool
bundles:
  description: Per bundle, each artifact with its state and field changes.
  returned: success
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpe_i3s.bundle.plugins.module_utils.i3s_bundle import (
    connection_argument_spec, fail, run_tool)

# i3s-bundle's exit codes (README "Exit codes"): 0 in sync, 1 drift.
IN_SYNC = 0
DRIFT = 1


def main():
    spec = connection_argument_spec()
    spec.update(
        bundles=dict(type='list', elements='path', default=[]),
        dist=dict(type='path', default='dist'),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    args = ['status'] + (module.params['bundles'] or ['--dist', module.params['dist']])
    rc, report, err = run_tool(module, args)
    if rc not in (IN_SYNC, DRIFT) or report is None:
        fail(module, rc, report, err, 'status')
    module.exit_json(changed=False, in_sync=report['in_sync'], bundles=report['bundles'])


if __name__ == '__main__':
    main()
