//! THE rule registry: every rule's stable id, default severity, one-line help and the long
//! explanation `i3s-bundle lint --explain ID` prints. Ids never change meaning; retired ids are
//! never reused.
use super::Severity::{self, Error, Note, Warning};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    pub id: &'static str,
    /// Short kebab-case name.
    pub name: &'static str,
    pub severity: Severity,
    /// The rule family (module).
    pub family: &'static str,
    /// One line: what to do about it.
    pub help: &'static str,
    /// Why the rule exists, with a failing and a passing example.
    pub explain: &'static str,
}

const fn r(
    id: &'static str,
    name: &'static str,
    severity: Severity,
    family: &'static str,
    help: &'static str,
    explain: &'static str,
) -> Rule {
    Rule {
        id,
        name,
        severity,
        family,
        help,
        explain,
    }
}

pub const RULES: &[Rule] = &[
    // ---- structure
    r(
        "I3S001",
        "first-step-not-mount",
        Error,
        "structure",
        "make the first step the plan script that mounts the root file system (e.g. `mount /dev/cl/root /`)",
        "A deploy or capture build plan runs its steps against the OS volume; the first step must mount the root\nfile system or every later step fails (or writes into the appliance's scratch space).\nHudsonAlpha shipped this twice: the 2017-08 capture plan and the 2018-06-09 Docker CentOS plan had mount and\numount swapped.\n\nfails:  steps = umount, prep, ..., mount\npasses: steps = mount, prep, ..., umount",
    ),
    r(
        "I3S002",
        "last-step-not-umount",
        Error,
        "structure",
        "make the last step the plan script that unmounts the root file system (`umount /`)",
        "A deploy or capture build plan must leave the OS volume unmounted: the last step unmounts what the first\nmounted, so the file system is clean when the server boots from it.\n\nfails:  steps = mount, prep, ..., mount\npasses: steps = mount, prep, ..., umount",
    ),
    r(
        "I3S003",
        "image-touched-while-unmounted",
        Error,
        "structure",
        "move the step so it runs between the mount and the umount steps",
        "A step that reads or writes the image while no file system is mounted (after the umount, or before the\nmount) fails on the appliance, or writes into the appliance's scratch root.\n\nfails:  umount (step 1), then `upload -<<END /etc/x` (step 2)\npasses: mount (step 1), upload (step 2), umount (step 3)",
    ),
    r(
        "I3S004",
        "dangling-step",
        Error,
        "structure",
        "point the step's planScriptUri at a plan script in the same bundle",
        "Every build step names a plan script by URI (`/rest/plan-scripts/<uuid>`). If no plan script in the bundle\nhas that uuid, the appliance refuses the import or the plan fails.\n\nfails:  planScriptUri = /rest/plan-scripts/<uuid not in the bundle>\npasses: planScriptUri = /rest/plan-scripts/<uuid of a bundled plan script>",
    ),
    r(
        "I3S005",
        "serial-numbers",
        Error,
        "structure",
        "number the steps \"1\", \"2\", ... \"n\" in order",
        "Build steps carry serialNumber strings \"1\"..\"n\"; the appliance orders steps by them. Gaps, duplicates and\nnon-numbers make the order ambiguous.\n\nfails:  serialNumber \"1\", \"3\"\npasses: serialNumber \"1\", \"2\"",
    ),
    r(
        "I3S006",
        "duplicate-name",
        Error,
        "structure",
        "give every artifact of a kind a unique name",
        "The appliance matches artifacts by name as well as uuid; two plan scripts (or build plans, deployment plans)\nwith the same name collide on import.\n\nfails:  two plan scripts named \"mount\"\npasses: \"mount\" and \"umount\"",
    ),
    r(
        "I3S007",
        "capture-plan-attributes",
        Error,
        "structure",
        "remove the custom attributes from the capture build plan",
        "Capture build plans run without user input; the appliance does not offer custom attributes for them.\n\nfails:  oeBuildPlanType = capture with customAttributes = [HOSTNAME]\npasses: oeBuildPlanType = capture with customAttributes = []",
    ),
    r(
        "I3S008",
        "deployment-plan-build-plan",
        Error,
        "structure",
        "name a build plan that is in the bundle (oeBuildPlanURI holds its name inside a bundle)",
        "Inside a bundle a deployment plan's `oeBuildPlanURI` holds the build plan's NAME. If no build plan in the\nbundle has that name, the import fails.\n\nfails:  oeBuildPlanURI = \"Docker\" with no build plan named Docker\npasses: oeBuildPlanURI = \"Docker\" with a build plan named Docker",
    ),
    r(
        "I3S009",
        "golden-image-not-in-bundle",
        Note,
        "structure",
        "make sure the golden image exists on the appliance, or ship it in the bundle",
        "A deployment plan may name a golden image the bundle does not carry; it must then exist on the appliance\nbefore the import.\n\nnote:   goldenImageURI = \"CentOS 7.4 Golden Image\" (not in the bundle)\npasses: goldenImageURI = \"\" or a golden image in the bundle",
    ),
    r(
        "I3S010",
        "step-name-mismatch",
        Warning,
        "structure",
        "make planScriptName equal the name of the plan script the URI points at",
        "A step's planScriptName is what the UI shows; when it disagrees with the plan script its URI points at,\nthe plan does something other than what it says.\n\nfails:  planScriptName \"mount\", URI → plan script \"umount\"\npasses: both name the same plan script",
    ),
    r(
        "I3S011",
        "no-build-plan",
        Warning,
        "structure",
        "use the plan script in a build plan or drop it from the bundle",
        "A plan script that no build plan uses is dead weight, or a sign a step was forgotten.\n\nfails:  plan script \"old_mount\" in no build plan\npasses: every plan script is a step of some build plan",
    ),
    // ---- attributes
    r(
        "I3S020",
        "undeclared-placeholder",
        Error,
        "attributes",
        "declare the attribute in the build plan's customAttributes",
        "The appliance substitutes `@NAME@` with the build plan's custom attribute NAME. A placeholder with no\nattribute (and no `@NAME:default@`) stays literal in the image: HudsonAlpha's 2018-06-09 Docker plans used\n@CONSUL_FQDN@ without declaring it, and the OpenStack all-in-one plan lost SERVER_IP, SERVER_MASK, SERVER_GW,\nDNS_IP and VLAN_ID.\n\nfails:  step uses @CONSUL_FQDN@, build plan declares no CONSUL_FQDN\npasses: build plan declares CONSUL_FQDN",
    ),
    r(
        "I3S021",
        "unused-attribute",
        Warning,
        "attributes",
        "remove the attribute or use it in a step",
        "An attribute no step uses asks the user for a value that goes nowhere; usually a step was swapped for one\nthat no longer needs it.\n\nfails:  declares SERVER_IP, no step uses @SERVER_IP@\npasses: every declared attribute is used",
    ),
    r(
        "I3S022",
        "default-mismatch",
        Warning,
        "attributes",
        "use the same default in the placeholder (`@NAME:default@`) and the attribute's value",
        "Build-plan values override plan-script defaults, so two different defaults mean the script's default is dead\nor the plan's value is wrong.\n\nfails:  @VLAN_ID:0@ and VLAN_ID value \"1\"\npasses: @VLAN_ID:0@ and VLAN_ID value \"0\"",
    ),
    r(
        "I3S023",
        "attribute-name",
        Error,
        "attributes",
        "use only letters, digits and `_` in attribute names, and declare each name once",
        "Placeholder names are `[A-Za-z0-9_]+`; an attribute with another name can never be referenced, and a name\ndeclared twice is ambiguous.\n\nfails:  attribute \"SERVER-IP\"\npasses: attribute \"SERVER_IP\"",
    ),
    r(
        "I3S024",
        "attribute-value",
        Error,
        "attributes",
        "fix the value (or default) so it fits the attribute's type and constraints",
        "A default value must be valid for its type and constraints: an option among the options, a number within\nminimum/maximum, an IPv4 address that parses, a valid host name or FQDN.\n\nfails:  type ipv4, value \"10.0.0.300\"\npasses: type ipv4, value \"10.0.0.30\"",
    ),
    r(
        "I3S025",
        "attribute-type",
        Error,
        "attributes",
        "use one of string, nic, option, number, password, fqdn, hostname, ipv4, with constraints that are a JSON object",
        "The appliance knows a fixed set of attribute types; anything else is rejected on import. Constraints are a\nJSON object encoded as a string.\n\nfails:  type \"integer\"\npasses: type \"number\"",
    ),
    r(
        "I3S026",
        "deployment-plan-attribute",
        Warning,
        "attributes",
        "give the deployment plan only attributes its build plan declares",
        "A deployment plan presets values for its build plan's attributes; a name the build plan does not declare is\nignored.\n\nfails:  deployment plan sets VLAN, build plan declares VLAN_ID\npasses: both say VLAN_ID",
    ),
    // ---- here-documents
    r(
        "I3S030",
        "unterminated-heredoc",
        Error,
        "heredoc",
        "end the here-document with its tag alone on a line",
        "`upload -<<END /path` reads lines up to a line that is exactly `END`. Without it guestfish swallows the rest\nof the script and fails with \"end of input reached without finding 'END'\".\n\nfails:  upload -<<END /etc/x ... (no END line)\npasses: upload -<<END /etc/x ... END",
    ),
    r(
        "I3S031",
        "nested-heredoc",
        Error,
        "heredoc",
        "remove the `upload -<<` line (and what belongs to it) from inside the here-document",
        "An `upload -<<END` inside another here-document's body is file content, not a command: the outer body ends at\nthe first END and the rest runs as guestfish commands. HudsonAlpha's static bond script carried an accidental\nnested copy of the DHCP script; it only worked because a second upload overwrote the file.\n\nfails:  upload -<<END /a.sh / #!/bin/bash / upload -<<END /b ...\npasses: one upload per file, bodies without upload lines",
    ),
    r(
        "I3S032",
        "spaced-heredoc",
        Error,
        "heredoc",
        "write `-<<TAG` without a space after the `-`",
        "guestfish only recognises `-<<TAG` as a here-document; `upload - <<END` is rejected.\n\nfails:  upload - <<END /etc/x\npasses: upload -<<END /etc/x",
    ),
    r(
        "I3S033",
        "heredoc-target",
        Error,
        "heredoc",
        "give the here-document an absolute target path: `upload -<<END /etc/file`",
        "guestfish writes the here-document to the path after the tag, inside the image; it must be absolute.\n\nfails:  upload -<<END etc/motd\npasses: upload -<<END /etc/motd",
    ),
    r(
        "I3S034",
        "heredoc-terminator-blanks",
        Warning,
        "heredoc",
        "remove the blanks around the terminator",
        "A terminator line must be exactly the tag: `END ` (trailing blank) or ` END` does not end the here-document.\n\nfails:  \"END \"\npasses: \"END\"",
    ),
    r(
        "I3S035",
        "crlf",
        Error,
        "heredoc",
        "convert the plan script to LF line endings",
        "guestfish reads `cmd\\r` as an unknown command and never matches `END\\r` as a terminator.\n\nfails:  mount /dev/cl/root /\\r\\n\npasses: mount /dev/cl/root /\\n",
    ),
    // ---- guestfish
    r(
        "I3S040",
        "unknown-command",
        Error,
        "guestfish",
        "use a guestfish command (see `guestfish -h`), or put bash inside an uploaded script",
        "Plan scripts are guestfish command scripts, not bash. guestfish stops at the first unknown command (a leading\n`-` hides the error but the line still does nothing).\n\nfails:  systemctl enable docker\npasses: ln-s /usr/lib/systemd/system/docker.service /etc/systemd/system/multi-user.target.wants/docker.service",
    ),
    r(
        "I3S041",
        "argument-count",
        Error,
        "guestfish",
        "give the command the number of arguments it takes (quote arguments that contain blanks)",
        "Each guestfish command takes a fixed number of arguments; guestfish rejects the line otherwise.\n\nfails:  chmod /usr/local/bin/x.sh\npasses: chmod 0755 /usr/local/bin/x.sh",
    ),
    r(
        "I3S042",
        "quoting",
        Error,
        "guestfish",
        "close the quote, and separate a closing quote from the next argument by a blank",
        "guestfish splits arguments at blanks and honours \"...\" and '...' quotes; an unterminated quote or `\"a\"b`\nis a syntax error.\n\nfails:  echo \"hello\npasses: echo \"hello\"",
    ),
    r(
        "I3S043",
        "setup-command",
        Warning,
        "guestfish",
        "remove the command: the appliance launches guestfish and adds the OS volume itself",
        "The appliance runs plan scripts in a launched guestfish with the OS volume attached; `run`, `launch`,\n`add`, `sparse`, `quit` and the like fail or end the script early.\n\nfails:  run\npasses: (no setup commands)",
    ),
    // ---- host
    r(
        "I3S044",
        "host-escape",
        Error,
        "host",
        "change the image only: write files with `upload -<<END path` or `write`, never `!`, `<!`, `| cmd`, host file arguments or host built-ins",
        "guestfish runs `!cmd` and `<!cmd` lines and everything after an unquoted `|` with the host's shell, reads or\nwrites host files for every file argument that is not `-` or a `-<<TAG` here-document (`upload /etc/shadow /x`,\n`download /x /tmp/y`, `tar-in`, `copy-in`…), and has built-ins that act on the host (`lcd`, `edit`, `display`,\n`setenv`, `event`, `set-qemu`…). On an appliance they run inside the appliance; under `i3s-bundle run` on your\nmachine. A bundle is untrusted input: `build` and `verify` reject these, `run` refuses them unless\n--allow-host-commands is given.\n\nfails:  cat /etc/passwd | mail someone\npasses: upload -<<END /etc/motd\n        welcome\n        END",
    ),
    r(
        "I3S045",
        "injectable-placeholder",
        Warning,
        "host",
        "keep placeholders inside here-document bodies, or give the attribute a type or regex that rejects blanks, quotes and `|`",
        "The appliance substitutes attribute values into the plan script's text before guestfish parses it. On a\nguestfish command line a value with a blank or a quote changes the argument count, one starting with `|` hands\nthe rest of the line to the host's shell, and an empty one removes an argument. A placeholder there is safe only\nwhen its attribute rejects such values (number, ipv4, hostname, fqdn, options without blanks, or a regex).\n\nfails:  mkdir-p @DIR@                      (DIR: string)\npasses: upload -<<END /etc/motd           (the value stays data in the body)\n        @GREETING@\n        END",
    ),
    // ---- systemd
    r(
        "I3S050",
        "unit-sections",
        Error,
        "systemd",
        "give the unit the sections its type needs: [Service] for a .service, [Timer] for a .timer, ...",
        "systemd ignores a .service without a [Service] section (\"has no ExecStart= setting\").\n\nfails:  /etc/systemd/system/x.service with only [Unit]\npasses: [Unit], [Service] with ExecStart=, [Install]",
    ),
    r(
        "I3S051",
        "exec-start",
        Error,
        "systemd",
        "upload the program ExecStart names and `chmod 0755` it in the same build plan",
        "A unit's ExecStart must name a program that exists and is executable on first boot. A script the plan uploads\nneeds `chmod 0755` (upload writes mode 0644).\n\nfails:  ExecStart=/usr/local/bin/x.sh, x.sh uploaded but never chmod-ed\npasses: upload -<<END /usr/local/bin/x.sh ... END / chmod 0755 /usr/local/bin/x.sh",
    ),
    r(
        "I3S052",
        "unit-dependency",
        Warning,
        "systemd",
        "name a unit the plan writes or a standard systemd unit",
        "After=, Requires=, Wants=, WantedBy= and friends name other units. A typo or a unit from a step that is not\nin this build plan silently drops the ordering (or, for Requires=, fails the unit).\n\nfails:  After=consul-instal.service\npasses: After=consul-install.service (written by an earlier step)",
    ),
    r(
        "I3S053",
        "wants-link-name",
        Error,
        "systemd",
        "name the .wants/ link exactly like the unit it points to",
        "A link in `X.target.wants/` must carry the unit's own name; systemd loads the unit under the link's name, so\na link `k8s-minion-install.service` → `k8s-worker-install.service` (HudsonAlpha's rename leftover) creates\na unit that nothing else refers to.\n\nfails:  ln-s /etc/systemd/system/a.service /etc/systemd/system/runlast.target.wants/b.service\npasses: ln-s /etc/systemd/system/a.service /etc/systemd/system/runlast.target.wants/a.service",
    ),
    r(
        "I3S054",
        "wants-link-target",
        Error,
        "systemd",
        "link to a unit the plan writes, or fix the path",
        "A .wants/ link to a unit that does not exist is a dangling link: nothing starts.\n\nfails:  ln-s /etc/systemd/system/missing.service .../runlast.target.wants/missing.service\npasses: the unit is uploaded by this or an earlier step",
    ),
    r(
        "I3S055",
        "unit-not-enabled",
        Warning,
        "systemd",
        "link the unit into a .wants/ directory (e.g. runlast.target.wants) or let another unit want it",
        "A unit that no .wants/ link, no default.target link and no other unit's Wants=/Requires= refers to never\nstarts: guestfish cannot run `systemctl enable`.\n\nfails:  upload x.service, no link\npasses: ln-s /etc/systemd/system/x.service /etc/systemd/system/runlast.target.wants/x.service",
    ),
    // ---- contracts between steps
    r(
        "I3S060",
        "marker-not-written",
        Error,
        "contracts",
        "add the step that writes the marker before this one, or drop the test",
        "A first-boot script that tests for a marker file (`[ -f /root/.X ]`, `test -e`) expects an earlier step of the\nsame build plan to write it. HudsonAlpha's OpenStack plans switched to a Docker script that no longer wrote\n/root/.DAS.consumed, so both OpenStack installs stopped at their check.\n\nfails:  step 8 tests [[ -f /root/.DAS.consumed ]], no earlier step writes it\npasses: step 5 writes `echo mpatha > /root/.DAS.consumed`, step 8 tests it",
    ),
    r(
        "I3S061",
        "container-not-started",
        Error,
        "contracts",
        "add the step that starts the container (`docker run --name NAME`) before this one",
        "`docker exec NAME` needs a container named NAME that an earlier step's script starts.\n\nfails:  docker exec consul ... with no earlier `docker run --name consul`\npasses: the Consul step (earlier) runs `docker run -d --name=consul ...`",
    ),
    // ---- shell
    r(
        "I3S070",
        "shellcheck",
        Warning,
        "shell",
        "fix the shell code as shellcheck says (see https://www.shellcheck.net/wiki/ for the SC code)",
        "Every uploaded file starting with a bash/sh shebang goes through shellcheck, with placeholders replaced by\nsample values of their type; findings point at the plan-script line. The severity follows shellcheck's\n(error → error, warning → warning, info/style → note). Allow single codes with `# i3s-lint: allow SC2086`.\n\nfails:  rm -rf $DIR/   (SC2115/SC2086)\npasses: rm -rf \"${DIR:?}/\"",
    ),
    r(
        "I3S071",
        "sed-newline",
        Error,
        "shell",
        "keep the sed expression on one line (use `\\n` or several -e expressions)",
        "A literal newline inside a sed `s` command ends the expression: GNU sed fails with \"unterminated `s'\ncommand\" and the step silently does nothing (HudsonAlpha's K8s cgroup-driver sed).\n\nfails:  sed -i 's#a#b c=<newline>true#g' file\npasses: sed -i 's#a#b c=true#g' file",
    ),
    r(
        "I3S072",
        "shell-syntax",
        Error,
        "shell",
        "fix the shell syntax (close the here-document, quote or bracket)",
        "A shell script with an unterminated `<<EOF` here-document or quote fails on first boot.\n\nfails:  cat <<EOF > /etc/x (no EOF)\npasses: cat <<EOF > /etc/x ... EOF",
    ),
    // ---- prose
    r(
        "I3S080",
        "description-contradicts-steps",
        Warning,
        "prose",
        "make the description say what the steps do (DHCP vs static addressing)",
        "A build plan whose description promises DHCP but whose steps configure static addresses (or the reverse)\nmisleads whoever picks it: HudsonAlpha's 2018-06-09 Docker plans say \"DHCP NIC bonding\" and use the static\nbond script.\n\nfails:  description \"... DHCP NIC bonding ...\", step writes IPADDR=@SERVER_IP@\npasses: description \"... static IP ...\"",
    ),
    // ---- secrets
    r(
        "I3S090",
        "password-default",
        Error,
        "secrets",
        "remove the default value: password attributes get their value at deploy time",
        "A password attribute's default is stored in the bundle in clear text and exported with it.\n\nfails:  type password, value \"changeme\"\npasses: type password, value \"\"",
    ),
    r(
        "I3S091",
        "secret-file-mode",
        Warning,
        "secrets",
        "restrict the file: `chmod 0600` it (guestfish) or set `umask 077` before writing (bash)",
        "A script that writes a password attribute's value into a file leaves it world-readable unless the mode is\nrestricted.\n\nfails:  upload -<<END /etc/app.conf / password=@Password@ / END\npasses: ... END / chmod 0600 /etc/app.conf",
    ),
    // ---- format hygiene (zips)
    r(
        "I3S100",
        "verify",
        Error,
        "hygiene",
        "rebuild the bundle with `i3s-bundle build` (or fix the entry named)",
        "What `i3s-bundle verify` checks: checksums match and cover every entry, the manifest has its five keys,\nexactly one checksum file. A bundle failing them is rejected on import.\n\nfails:  MANIFEST.MF digest does not match SHA256SUM.sha256sum\npasses: every digest matches",
    ),
    r(
        "I3S101",
        "sha1-checksums",
        Warning,
        "hygiene",
        "use SHA256SUM.sha256sum unless the target appliance is OneView 3.00",
        "SHA1SUM.sha1sum is the OneView 3.00 flavour; appliances from 3.10 on use SHA-256.\n\nwarns:  SHA1SUM.sha1sum\npasses: SHA256SUM.sha256sum",
    ),
    r(
        "I3S102",
        "checksum-lists-itself",
        Warning,
        "hygiene",
        "drop the checksum file's own line",
        "A checksum line for the checksum file itself can never match (hand-repacked zips have it).\n\nwarns:  SHA256SUM.sha256sum<TAB>... inside SHA256SUM.sha256sum\npasses: no such line",
    ),
    r(
        "I3S103",
        "non-ascii",
        Warning,
        "hygiene",
        "replace typographic quotes and dashes by ASCII in plan script content",
        "Non-ASCII characters in plan script content (“smart quotes”, en dashes pasted from documents) end up in\nshell scripts and config files, where they are not quotes or dashes at all.\n\nwarns:  echo “done”\npasses: echo \"done\"",
    ),
    r(
        "I3S104",
        "trailing-newline",
        Warning,
        "hygiene",
        "remove the final newline (appliances write none)",
        "Appliance-exported JSON entries and MANIFEST.MF have no final newline, and plan script content never ends\nwith one; hand-repacked zips add them.\n\nwarns:  MANIFEST.MF ends with \\n\npasses: no final newline",
    ),
    r(
        "I3S105",
        "container-form",
        Warning,
        "hygiene",
        "rebuild the bundle with `i3s-bundle build` to get the canonical form",
        "Tolerated deviations from the appliance's form: manifest keys out of order or unknown, checksum lines not in\nentry order or without a final newline, unknown entries, a zip named differently from its Artifact Name.\n\nwarns:  checksum lines not in zip entry order\npasses: canonical bundle",
    ),
    // ---- capability (sources only: contracts and the OS posture)
    r(
        "I3S110",
        "port-not-opened",
        Error,
        "capability",
        "open the port in a first-boot script (`firewall-cmd --permanent --add-port=P/tcp`, or `open_ports P/tcp` from _lib/sh.j2), or list it in the profile's [posture] open",
        "A capability's contract lists the ports it listens on. On an image whose posture has a firewall (firewalld or\niptables), a port nobody opens is unreachable: Consul's LAN gossip (8301/tcp+udp) closed makes serfHealth\ncritical and every check on the node with it; kubelet's 10250 closed keeps the control plane from the node.\nOpened means: the image's [posture] open list, or `--add-port=` / `open_ports` in a step of the same plan.\n\nfails:  contract ports = [\"8301/udp\"], posture firewall = \"firewalld\", no step opens it\npasses: a step runs `firewall-cmd --permanent --add-port=8301/udp` (then `--reload`)",
    ),
    r(
        "I3S111",
        "unlabelled-bind-mount",
        Error,
        "capability",
        "add an SELinux label option to the bind mount: `-v /host:/ctr:Z` (private) or `:z` (shared)",
        "On an image that enforces SELinux, a container may not read or write a host directory that is not labelled\nfor containers; Docker and Podman relabel it when the mount has the `z` (shared) or `Z` (private) option (Docker's\n`docker run -v` reference, \"Configure the SELinux label\"). Without it the Consul agent cannot write its data\ndirectory. Named volumes are labelled by the engine and pass.\n\nfails:  docker run -v /var/lib/consul:/consul/data hashicorp/consul\npasses: docker run -v /var/lib/consul:/consul/data:Z hashicorp/consul",
    ),
    r(
        "I3S112",
        "capture-keeps-secret",
        Error,
        "capability",
        "remove the path in the capture plan's generalize step (`rm-rf PATH`), or a parent of it",
        "A capture plan turns a deployed node into a golden image. Every secret path the contracts of the same bundle's\ndeploy plans declare (Consul token and keyring, DataDog key, root's authorized_keys, kubeadm and packstack\ncredentials, first-boot state) must be removed by it, or every node deployed from that image inherits them.\n`golden-image check --captured` checks the same on an image.\n\nfails:  contract secret_paths = [\"/etc/consul.d\"], capture plan removes nothing there\npasses: the capture plan runs `rm-rf /etc/consul.d`",
    ),
    r(
        "I3S113",
        "consul-acl",
        Error,
        "capability",
        "grant the permission in templates/consul-policies/<plan>.hcl (least privilege), or stop calling the endpoint",
        "With ACLs on and `default_policy = deny`, a Consul call whose token lacks the permission its endpoint needs gets\n403: `GET /v1/agent/self` needs agent:read, a TTL check update node:write, `PUT /v1/kv/K` key:write on K\n(Consul's API docs, \"ACL Required\"). The endpoints come from the capabilities' contracts (`<ATTRIBUTE>` takes the\nplan's default), the policy from templates/consul-policies/<last part of the plan name, slugged>.hcl.\n\nfails:  consul_endpoints = [\"GET /v1/agent/self\"], policy grants no agent rule\npasses: the policy has `agent_prefix \"\" { policy = \"read\" }`",
    ),
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The rules as a Markdown table (docs/lint.md carries it; a test keeps it current).
pub fn markdown_table() -> String {
    let mut out =
        String::from("| id | name | severity | family | what to do |\n|---|---|---|---|---|\n");
    for r in RULES {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.id,
            r.name,
            r.severity,
            r.family,
            r.help.replace('|', "\\|")
        ));
    }
    out
}

/// The text `--explain ID` prints.
pub fn explain(id: &str) -> Option<String> {
    let rule = rule(id)?;
    Some(format!(
        "{} {} ({}, {})\n\n{}\n\nhelp: {}\n\nAllow it with `# i3s-lint: allow {}` on or above the line in a plan script,\nor in i3s-lint.toml: `allow = [\"{}\"]` or [[allow]] rule = \"{}\", artifacts = [...].\n",
        rule.id,
        rule.name,
        rule.severity,
        rule.family,
        rule.explain,
        rule.help,
        rule.id,
        rule.id,
        rule.id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_sorted() {
        for pair in RULES.windows(2) {
            assert!(
                pair[0].id < pair[1].id,
                "{} then {}",
                pair[0].id,
                pair[1].id
            );
        }
        for rule in RULES {
            assert!(
                rule.id.len() == 6 && rule.id.starts_with("I3S"),
                "{}",
                rule.id
            );
            assert!(
                !rule.help.is_empty() && rule.explain.contains("pass"),
                "{}",
                rule.id
            );
        }
        assert!(explain("i3s031").unwrap().contains("nested"));
        assert!(explain("I3S999").is_none());
    }
}
