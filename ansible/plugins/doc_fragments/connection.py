# -*- coding: utf-8 -*-
"""The connection options every hpe_i3s.bundle module takes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  binary:
    description:
      - The i3s-bundle executable to run (a path, or a name looked up on C(PATH)).
    type: path
    default: i3s-bundle
  config:
    description:
      - A python-hpOneView style C(config.json) (ip, image_streamer_ip, api_version,
        credentials), as the HPE OneView modules take it. The options below override its values.
    type: path
  hostname:
    description:
      - The OneView appliance address (an IP, host name or URL).
      - Falls back to the E(ONEVIEWSDK_IP) environment variable.
    type: str
  image_streamer_hostname:
    description:
      - The Image Streamer address.
      - Falls back to E(ONEVIEWSDK_IMAGE_STREAMER_IP).
    type: str
  username:
    description:
      - The OneView user name. Falls back to E(ONEVIEWSDK_USERNAME).
    type: str
  password:
    description:
      - The OneView password. Falls back to E(ONEVIEWSDK_PASSWORD).
      - Handed to i3s-bundle in its environment, never on its command line.
    type: str
  auth_login_domain:
    description:
      - The OneView login domain. Falls back to E(ONEVIEWSDK_AUTH_LOGIN_DOMAIN).
    type: str
  api_version:
    description:
      - The REST API version to speak (default the appliance's current one).
      - Falls back to E(ONEVIEWSDK_API_VERSION).
    type: int
  ca_cert:
    description:
      - Trust only this CA certificate (PEM), e.g. the appliance's self-signed one.
    type: path
  insecure:
    description:
      - Do not verify TLS certificates and allow plain C(http://) addresses. Only for labs and
        simulators.
    type: bool
    default: false
notes:
  - "The modules run on the control node (C(connection: local) or C(delegate_to: localhost)); the
    inventory's hosts stand for appliances."
  - Option names follow HPE's oneview-ansible modules.
'''
