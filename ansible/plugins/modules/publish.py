#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: publish
short_description: Publish artifact bundles to an HPE Image Streamer
description:
  - Runs C(i3s-bundle publish) against one appliance; uploads and extracts the bundles and creates
    or updates their deployment plans, changing only what differs.
  - Check mode runs C(i3s-bundle publish --dry-run), which reads only, and reports what would change.
  - With C(--diff), shows each changed field before and after.
version_added: 0.1.0
author:
  - i3s-bundle maintainers (!UNKNOWN)
options:
  bundles:
    description:
      - Bundle zips to publish. Empty publishes every zip in O(dist).
    type: list
    elements: path
    default: []
  dist:
    description:
      - Where the built bundle zips are, used when O(bundles) is empty.
    type: path
    default: dist
  replace:
    description:
      - Delete and upload again a bundle whose name exists on the appliance with other content.
    type: bool
    default: false
  golden_images:
    description:
      - Deployment plan name to the golden image it attaches (overrides the build's sidecar).
    type: dict
    default: {}
  profile_templates:
    description:
      - Server profile template name to the deployment plan it points at.
    type: dict
    default: {}
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
- name: Publish every bundle of dist/ to this appliance
  hpe_i3s.bundle.publish:
    dist: "{{ playbook_dir }}/dist"
    hostname: "{{ oneview_hostname }}"
    image_streamer_hostname: "{{ image_streamer_hostname }}"
    username: administrator
    password: "{{ vault_oneview_password }}"
  delegate_to: localhost
'''

RETURN = r'''
objects:
  description: Every object publish looked at, what was (or would be) done to it, and its field changes.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: plan-script
      name: "Org - hostname"
      action: update
      applied: true
      changes:
        - field: content
          from: "old"
          to: "new"
warnings_from_tool:
  description: Warnings i3s-bundle gave.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpe_i3s.bundle.plugins.module_utils.i3s_bundle import (
    connection_argument_spec, fail, run_tool)


def diff_of(objects):
    """Before/after per changed object: its fields' values on the appliance and as published."""
    before, after = {}, {}
    for item in objects:
        if item.get('action') == 'unchanged':
            continue
        key = '%s %s' % (item.get('kind'), item.get('name'))
        if item.get('action') in ('upload', 'create'):
            after[key] = dict((c['field'], c['to']) for c in item.get('changes', [])) or 'present'
            continue
        before[key] = dict((c['field'], c['from']) for c in item.get('changes', []))
        after[key] = dict((c['field'], c['to']) for c in item.get('changes', []))
        if not item.get('changes'):
            before[key], after[key] = 'present', item.get('action')
    return dict(before=before, after=after)


def main():
    spec = connection_argument_spec()
    spec.update(
        bundles=dict(type='list', elements='path', default=[]),
        dist=dict(type='path', default='dist'),
        replace=dict(type='bool', default=False),
        golden_images=dict(type='dict', default={}),
        profile_templates=dict(type='dict', default={}),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    args = ['publish'] + (params['bundles'] or ['--all', '--dist', params['dist']])
    for plan, image in sorted(params['golden_images'].items()):
        args += ['--golden-image', '%s=%s' % (plan, image)]
    for template, plan in sorted(params['profile_templates'].items()):
        args += ['--profile-template', '%s=%s' % (template, plan)]
    if params['replace']:
        args.append('--replace')
    if module.check_mode:
        args.append('--dry-run')
    rc, report, err = run_tool(module, args)
    if rc != 0 or report is None:
        fail(module, rc, report, err, 'publish')
    objects = report.get('objects', [])
    result = dict(changed=bool(report.get('changed')), objects=objects,
                  warnings_from_tool=report.get('warnings', []))
    if module._diff:
        result['diff'] = diff_of(objects)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
