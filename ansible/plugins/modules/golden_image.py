#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: golden_image
short_description: Upload a golden image to an HPE Image Streamer
description:
  - "Runs C(i3s-bundle golden-image upload), streamed. Idempotent: the same name and content
    again changes nothing; the same name with other content is refused (the task fails)."
  - Check mode is not supported (the binary has no dry run for uploads); the task is skipped.
version_added: 0.1.0
author:
  - i3s-bundle maintainers (!UNKNOWN)
options:
  file:
    description:
      - The payload zip written by C(i3s-bundle golden-image pack).
    type: path
    required: true
  name:
    description:
      - The golden image name on the appliance.
    type: str
    required: true
  description:
    description:
      - The golden image description on the appliance.
    type: str
extends_documentation_fragment:
  - hpe_i3s.bundle.connection
attributes:
  check_mode:
    description: Not supported; the task is skipped in check mode.
    support: none
'''

EXAMPLES = r'''
- name: Upload the Debian 12 golden image
  hpe_i3s.bundle.golden_image:
    file: "{{ playbook_dir }}/d12.zip"
    name: Debian 12 Golden Image
  delegate_to: localhost
'''

RETURN = r'''
uri:
  description: The golden image's URI on the appliance.
  returned: success
  type: str
sha256:
  description: The payload's SHA-256.
  returned: success
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpe_i3s.bundle.plugins.module_utils.i3s_bundle import (
    connection_argument_spec, fail, run_tool)


def main():
    spec = connection_argument_spec()
    spec.update(
        file=dict(type='path', required=True),
        name=dict(type='str', required=True),
        description=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=False)
    args = ['golden-image', 'upload', module.params['file'], '--name', module.params['name']]
    if module.params['description'] is not None:
        args += ['--description', module.params['description']]
    rc, report, err = run_tool(module, args)
    if rc != 0 or report is None:
        fail(module, rc, report, err, 'golden-image upload')
    module.exit_json(changed=report['action'] == 'created', uri=report['uri'],
                     sha256=report['sha256'])


if __name__ == '__main__':
    main()
