# -*- coding: utf-8 -*-
"""Shared by the hpe_i3s.bundle modules: connection options, and running the i3s-bundle binary.

The connection options are named as HPE's oneview-ansible modules name them
(ONEVIEW_COMMON_ARGS in HewlettPackard/oneview-ansible, library/module_utils/oneview.py:
config, hostname, image_streamer_hostname, username, password, auth_login_domain,
api_version), and each falls back to the environment variable of the HPE OneView SDKs that
i3s-bundle reads (ONEVIEWSDK_IP, ONEVIEWSDK_IMAGE_STREAMER_IP, ...). They reach the binary
through its environment, never its arguments: a password in argv is visible to every user of
the machine (ps).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.basic import env_fallback

# Option name -> (environment variable the binary reads, type).
CONNECTION = {
    'hostname': ('ONEVIEWSDK_IP', 'str'),
    'image_streamer_hostname': ('ONEVIEWSDK_IMAGE_STREAMER_IP', 'str'),
    'username': ('ONEVIEWSDK_USERNAME', 'str'),
    'password': ('ONEVIEWSDK_PASSWORD', 'str'),
    'auth_login_domain': ('ONEVIEWSDK_AUTH_LOGIN_DOMAIN', 'str'),
    'api_version': ('ONEVIEWSDK_API_VERSION', 'int'),
}


def connection_argument_spec():
    """The options every module takes: how to reach and log in to one appliance."""
    spec = dict(
        binary=dict(type='path', default='i3s-bundle'),
        config=dict(type='path'),
        ca_cert=dict(type='path'),
        insecure=dict(type='bool', default=False),
    )
    for option, (variable, kind) in CONNECTION.items():
        spec[option] = dict(type=kind, fallback=(env_fallback, [variable]))
    spec['password']['no_log'] = True
    return spec


def connection_args_and_env(params):
    """The binary's connection flags (paths only) and environment (addresses, credentials)."""
    args = []
    if params.get('config'):
        args += ['--config', params['config']]
    if params.get('ca_cert'):
        args += ['--ca-cert', params['ca_cert']]
    if params.get('insecure'):
        args.append('--insecure')
    env = {}
    for option, (variable, kind) in CONNECTION.items():
        if params.get(option) is not None:
            env[variable] = str(params[option])
    return args, env


def run_tool(module, args):
    """Runs `binary ARGS --json` with the connection; returns (exit code, report, stderr).

    The report is the binary's JSON on stdout (None when it printed none, e.g. a usage error).
    """
    connection, env = connection_args_and_env(module.params)
    command = [module.params['binary']] + args + ['--json'] + connection
    rc, out, err = module.run_command(command, environ_update=env)
    try:
        report = json.loads(out) if out.strip() else None
    except ValueError:
        report = None
    return rc, report, err


def fail(module, rc, report, err, what):
    """Fails the task with the binary's own words (its report's error, else its stderr)."""
    message = (report or {}).get('error') or err.strip() or 'exit code %d' % rc
    module.fail_json(msg='i3s-bundle %s failed: %s' % (what, message), rc=rc, report=report,
                     stderr=err)
