# Stand-in for the get-pip script ansible-test downloads from ci-files.testing.ansible.com to put
# pip into its virtual environments (ansible_test/_util/target/setup/requirements.py, `bootstrap`),
# for machines that reach only the package registries. ansible-test's own error message says to
# save such a script at ~/.ansible/test/cache/get_pip_<version>.py; .ci/install-test-deps does.
# It installs pip from the interpreter's ensurepip, then the packages asked for from the index.
import ensurepip, os, subprocess, sys
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
cert = os.environ.get('PIP_CERT') or '/etc/ssl/certs/ca-certificates.crt'
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--cert', cert] + args))
