//! Every lint rule with a failing and a passing example. `every_rule_has_a_case` keeps it so.
use crate::common;

use i3s_bundle::bundle::{
    AttributeType, BuildPlan, BuildStep, Bundle, ChecksumFlavour, Constraints, CustomAttribute,
    DeploymentPlan, Manifest, PlanScript,
};
use i3s_bundle::lint::{self, Finding, LintOptions, Target};

const MOUNT: &str = "mount /dev/cl/root /\n-statvfs /";
const UMOUNT: &str = "umount /";

fn uuid_of(name: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

fn script(name: &str, content: &str) -> PlanScript {
    let plan_type = if name == "mount" || name == "umount" {
        "general"
    } else {
        "deploy"
    };
    PlanScript::new(
        uuid_of(name),
        name.to_string(),
        String::new(),
        plan_type,
        content.to_string(),
    )
}

fn attr(name: &str, kind: AttributeType, value: &str) -> CustomAttribute {
    let mut a = CustomAttribute::new(name, kind);
    a.value = Some(value.to_string());
    a
}

/// A bundle with one deploy build plan: mount, the given step scripts, umount.
struct Case {
    scripts: Vec<PlanScript>,
    plans: Vec<BuildPlan>,
    deployment_plans: Vec<DeploymentPlan>,
}

impl Case {
    fn plan(steps: &[(&str, &str)], attributes: Vec<CustomAttribute>) -> Case {
        Case::plan_with("plan", "", steps, attributes)
    }

    fn plan_with(
        name: &str,
        description: &str,
        steps: &[(&str, &str)],
        attributes: Vec<CustomAttribute>,
    ) -> Case {
        let mut all = vec![("mount", MOUNT)];
        all.extend_from_slice(steps);
        all.push(("umount", UMOUNT));
        Case::raw(name, description, &all, attributes)
    }

    /// A build plan with exactly these steps (no implicit mount/umount).
    fn raw(
        name: &str,
        description: &str,
        steps: &[(&str, &str)],
        attributes: Vec<CustomAttribute>,
    ) -> Case {
        let scripts: Vec<PlanScript> = steps.iter().map(|(n, c)| script(n, c)).collect();
        let mut plan = BuildPlan::new(
            uuid_of(name),
            name.to_string(),
            description.to_string(),
            "deploy",
        );
        plan.steps = scripts
            .iter()
            .enumerate()
            .map(|(i, s)| BuildStep::new(i + 1, s))
            .collect();
        plan.custom_attributes = attributes;
        let mut unique = Vec::new();
        for s in scripts {
            if !unique.iter().any(|u: &PlanScript| u.name == s.name) {
                unique.push(s);
            }
        }
        Case {
            scripts: unique,
            plans: vec![plan],
            deployment_plans: Vec::new(),
        }
    }

    fn bundle(&self) -> Bundle {
        Bundle {
            manifest: Manifest::new("test", "", false, "2026-11-26T12:00:00.000Z".into()),
            checksum: ChecksumFlavour::Sha256,
            plan_scripts: self.scripts.clone(),
            golden_images: Vec::new(),
            build_plans: self.plans.clone(),
            deployment_plans: self.deployment_plans.clone(),
        }
    }

    fn findings(&self) -> Vec<Finding> {
        let bundle = self.bundle();
        let target = Target::new(
            "test.zip".into(),
            &bundle,
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        lint::lint_target(&target, &LintOptions::default()).findings
    }
}

fn has(case: &Case, id: &str) -> bool {
    case.findings().iter().any(|f| f.rule == id)
}

/// Asserts the failing case has the rule's finding and the passing case does not.
macro_rules! rule_case {
    ($test:ident, $id:literal, fail: $fail:expr, pass: $pass:expr $(,)?) => {
        #[test]
        fn $test() {
            let fail: Case = $fail;
            let pass: Case = $pass;
            let found = fail.findings();
            assert!(
                found.iter().any(|f| f.rule == $id),
                "{} not reported on the failing example: {:#?}",
                $id,
                found
            );
            let found = pass.findings();
            assert!(
                !found.iter().any(|f| f.rule == $id),
                "{} reported on the passing example: {:#?}",
                $id,
                found
            );
        }
    };
}

const UNIT: &str = "upload -<<END /etc/systemd/system/x.service\n[Unit]\nDescription=x\nAfter=multi-user.target\n\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/x.sh\n\n[Install]\nWantedBy=multi-user.target\nEND\nupload -<<END /usr/local/bin/x.sh\n#!/bin/bash\necho hi\nEND\nchmod 0755 /usr/local/bin/x.sh\nln-s /etc/systemd/system/x.service /etc/systemd/system/multi-user.target.wants/x.service";

// ---- structure
rule_case!(i3s001_first_step_mounts, "I3S001",
    fail: Case::raw("p", "", &[("umount", UMOUNT), ("work", "touch /etc/x"), ("umount", UMOUNT)], vec![]),
    pass: Case::plan(&[("work", "touch /etc/x")], vec![]));
rule_case!(i3s002_last_step_unmounts, "I3S002",
    fail: Case::raw("p", "", &[("mount", MOUNT), ("work", "touch /etc/x")], vec![]),
    pass: Case::plan(&[("work", "touch /etc/x")], vec![]));
rule_case!(i3s003_nothing_touches_the_unmounted_image, "I3S003",
    fail: Case::raw("p", "", &[("mount", MOUNT), ("umount", UMOUNT), ("work", "touch /etc/x"), ("umount2", UMOUNT)], vec![]),
    pass: Case::raw("p", "", &[("mount", MOUNT), ("work", "touch /etc/x"), ("note", "echo done"), ("umount", UMOUNT)], vec![]));
rule_case!(i3s004_dangling_step, "I3S004",
    fail: {
        let mut c = Case::plan(&[("work", "touch /etc/x")], vec![]);
        c.plans[0].steps[1].plan_script_uri = format!("/rest/plan-scripts/{}", uuid_of("nothing"));
        c
    },
    pass: Case::plan(&[("work", "touch /etc/x")], vec![]));
rule_case!(i3s005_serial_numbers, "I3S005",
    fail: {
        let mut c = Case::plan(&[("work", "touch /etc/x")], vec![]);
        c.plans[0].steps[2].serial_number = "4".into();
        c
    },
    pass: Case::plan(&[("work", "touch /etc/x")], vec![]));
rule_case!(i3s006_unique_names, "I3S006",
    fail: {
        let mut c = Case::plan(&[("work", "touch /etc/x")], vec![]);
        let mut twin = script("work", "touch /etc/y");
        twin.id = uuid_of("twin");
        c.scripts.push(twin);
        c
    },
    pass: Case::plan(&[("work", "touch /etc/x"), ("work2", "touch /etc/y")], vec![]));
rule_case!(i3s007_capture_plan_has_no_attributes, "I3S007",
fail: {
    let mut c = Case::plan(&[("work", "touch /etc/@X@")], vec![attr("X", AttributeType::String, "")]);
    c.plans[0].build_plan_type = "capture".into();
    c
},
pass: {
    let mut c = Case::plan(&[("work", "touch /etc/x")], vec![]);
    c.plans[0].build_plan_type = "capture".into();
    c
});
fn with_deployment_plan(
    build_plan: &str,
    golden_image: &str,
    attributes: Vec<CustomAttribute>,
) -> Case {
    let mut c = Case::plan(
        &[("work", "touch /etc/@X@")],
        vec![attr("X", AttributeType::String, "")],
    );
    let mut dp = DeploymentPlan::new(
        uuid_of("dp"),
        "dp".into(),
        String::new(),
        build_plan.into(),
        golden_image.into(),
    );
    dp.custom_attributes = attributes;
    c.deployment_plans.push(dp);
    c
}
rule_case!(i3s008_deployment_plan_names_a_build_plan, "I3S008",
    fail: with_deployment_plan("no such plan", "", vec![]),
    pass: with_deployment_plan("plan", "", vec![]));
rule_case!(i3s009_golden_image_not_in_bundle, "I3S009",
    fail: with_deployment_plan("plan", "CentOS 7.4 Golden Image", vec![]),
    pass: with_deployment_plan("plan", "", vec![]));
rule_case!(i3s010_step_name_matches_script, "I3S010",
    fail: {
        let mut c = Case::plan(&[("work", "touch /etc/x")], vec![]);
        c.plans[0].steps[1].plan_script_name = "other".into();
        c
    },
    pass: Case::plan(&[("work", "touch /etc/x")], vec![]));
rule_case!(i3s011_script_in_no_build_plan, "I3S011",
    fail: {
        let mut c = Case::plan(&[("work", "touch /etc/x")], vec![]);
        c.scripts.push(script("orphan", "touch /etc/y"));
        c
    },
    pass: Case::plan(&[("work", "touch /etc/x")], vec![]));

// ---- attributes
rule_case!(i3s020_placeholder_declared, "I3S020",
    fail: Case::plan(&[("consul", "echo @CONSUL_FQDN@")], vec![]),
    pass: Case::plan(&[("consul", "echo @CONSUL_FQDN@")], vec![attr("CONSUL_FQDN", AttributeType::Fqdn, "")]));
rule_case!(i3s021_attribute_used, "I3S021",
    fail: Case::plan(&[("work", "echo hi")], vec![attr("SERVER_IP", AttributeType::Ipv4, "")]),
    pass: Case::plan(&[("work", "echo @SERVER_IP@")], vec![attr("SERVER_IP", AttributeType::Ipv4, "")]));
rule_case!(i3s022_same_default, "I3S022",
    fail: Case::plan(&[("work", "echo @VLAN_ID:0@")], vec![attr("VLAN_ID", AttributeType::String, "1")]),
    pass: Case::plan(&[("work", "echo @VLAN_ID:0@")], vec![attr("VLAN_ID", AttributeType::String, "0")]));
rule_case!(i3s023_attribute_names, "I3S023",
    fail: Case::plan(&[("work", "echo @SERVER_IP@")], vec![attr("SERVER_IP", AttributeType::Ipv4, ""), attr("SERVER-IP", AttributeType::Ipv4, "")]),
    pass: Case::plan(&[("work", "echo @SERVER_IP@")], vec![attr("SERVER_IP", AttributeType::Ipv4, "")]));
rule_case!(i3s024_values_fit_type_and_constraints, "I3S024",
    fail: Case::plan(&[("work", "echo @IP@")], vec![attr("IP", AttributeType::Ipv4, "10.0.0.300")]),
    pass: Case::plan(&[("work", "echo @IP@")], vec![attr("IP", AttributeType::Ipv4, "10.0.0.30")]));
#[test]
fn i3s024_options_and_numbers() {
    let mut option = attr("MODE", AttributeType::Option, "fast");
    option.constraints = Constraints::decode(r#"{"options":["slow","safe"]}"#).unwrap();
    let mut number = attr("SIZE", AttributeType::Number, "9");
    number.constraints = Constraints::decode(r#"{"minimum":"10","maximum":"20"}"#).unwrap();
    let c = Case::plan(
        &[("work", "echo @MODE@ @SIZE@")],
        vec![option.clone(), number.clone()],
    );
    assert_eq!(
        c.findings().iter().filter(|f| f.rule == "I3S024").count(),
        2
    );
    option.value = Some("safe".into());
    number.value = Some("15".into());
    assert!(!has(
        &Case::plan(&[("work", "echo @MODE@ @SIZE@")], vec![option, number]),
        "I3S024"
    ));
}
rule_case!(i3s025_known_types, "I3S025",
    fail: Case::plan(&[("work", "echo @N@")], vec![attr("N", AttributeType::Other("integer".into()), "")]),
    pass: Case::plan(&[("work", "echo @N@")], vec![attr("N", AttributeType::Number, "")]));
rule_case!(i3s026_deployment_plan_attributes, "I3S026",
    fail: with_deployment_plan("plan", "", vec![attr("Y", AttributeType::String, "")]),
    pass: with_deployment_plan("plan", "", vec![attr("X", AttributeType::String, "")]));

// ---- here-documents
rule_case!(i3s030_heredoc_terminated, "I3S030",
    fail: Case::plan(&[("work", "upload -<<END /etc/x\nhello\nEOF")], vec![]),
    pass: Case::plan(&[("work", "upload -<<END /etc/x\nhello\nEND")], vec![]));
rule_case!(i3s031_no_nested_heredoc, "I3S031",
    fail: Case::plan(&[("work", "upload -<<END /a.sh\n#!/bin/bash\nupload -<<END /b\nx\nEND\nchmod 0755 /a.sh")], vec![]),
    pass: Case::plan(&[("work", "upload -<<END /a.sh\n#!/bin/bash\necho x\nEND\nupload -<<END /b\nx\nEND")], vec![]));
rule_case!(i3s032_no_space_in_heredoc, "I3S032",
    fail: Case::plan(&[("work", "upload - <<END /etc/x\nhello\nEND")], vec![]),
    pass: Case::plan(&[("work", "upload -<<END /etc/x\nhello\nEND")], vec![]));
rule_case!(i3s033_absolute_heredoc_target, "I3S033",
    fail: Case::plan(&[("work", "upload -<<END etc/x\nhello\nEND")], vec![]),
    pass: Case::plan(&[("work", "upload -<<END /etc/x\nhello\nEND")], vec![]));
rule_case!(i3s034_terminator_alone, "I3S034",
    fail: Case::plan(&[("work", "upload -<<END /etc/x\nhello\nEND \nEND")], vec![]),
    pass: Case::plan(&[("work", "upload -<<END /etc/x\nhello\nEND")], vec![]));
rule_case!(i3s035_no_crlf, "I3S035",
    fail: Case::plan(&[("work", "touch /etc/x\r\ntouch /etc/y")], vec![]),
    pass: Case::plan(&[("work", "touch /etc/x\ntouch /etc/y")], vec![]));

// ---- guestfish
rule_case!(i3s040_known_commands, "I3S040",
    fail: Case::plan(&[("work", "systemctl enable docker")], vec![]),
    pass: Case::plan(&[("work", "ln-sf /usr/lib/systemd/system/docker.service /etc/systemd/system/multi-user.target.wants/docker.service")], vec![]));
rule_case!(i3s041_argument_count, "I3S041",
    fail: Case::plan(&[("work", "chmod /usr/local/bin/x.sh")], vec![]),
    pass: Case::plan(&[("work", "chmod 0755 /usr/local/bin/x.sh")], vec![]));
rule_case!(i3s042_quoting, "I3S042",
    fail: Case::plan(&[("work", "echo \"unterminated")], vec![]),
    pass: Case::plan(&[("work", "echo \"terminated\"")], vec![]));
rule_case!(i3s043_no_setup_commands, "I3S043",
    fail: Case::plan(&[("work", "run\ntouch /etc/x")], vec![]),
    pass: Case::plan(&[("work", "touch /etc/x")], vec![]));

#[test]
fn i3s040_i3s041_know_every_guestfish_command() {
    // From the generated catalog (guestfish's own help), not the hand-written table.
    let c = Case::plan(
        &[(
            "w",
            "vgscan\npart-list /dev/sda\n-selinux-relabel /etc/selinux/targeted/contexts/files/file_contexts /",
        )],
        vec![],
    );
    assert!(
        !has(&c, "I3S040") && !has(&c, "I3S041"),
        "{:#?}",
        c.findings()
    );
    let c = Case::plan(&[("w", "part-list")], vec![]);
    assert!(has(&c, "I3S041"));
    let c = Case::plan(&[("w", "umonut /")], vec![]);
    assert!(
        c.findings()
            .iter()
            .any(|f| f.rule == "I3S040" && f.message.contains("did you mean `umount`"))
    );
}

// ---- systemd
rule_case!(i3s050_unit_sections, "I3S050",
    fail: Case::plan(&[("unit", &UNIT.replace("[Service]\n", ""))], vec![]),
    pass: Case::plan(&[("unit", UNIT)], vec![]));
rule_case!(i3s051_exec_start_written_and_executable, "I3S051",
    fail: Case::plan(&[("unit", &UNIT.replace("chmod 0755 /usr/local/bin/x.sh\n", ""))], vec![]),
    pass: Case::plan(&[("unit", UNIT)], vec![]));
#[test]
fn i3s051_exec_start_not_written() {
    let c = Case::plan(
        &[(
            "unit",
            &UNIT.replace(
                "ExecStart=/usr/local/bin/x.sh",
                "ExecStart=/usr/local/bin/y.sh",
            ),
        )],
        vec![],
    );
    assert!(
        c.findings()
            .iter()
            .any(|f| f.rule == "I3S051" && f.message.contains("no step of the plan writes"))
    );
    let system = Case::plan(
        &[(
            "unit",
            &UNIT.replace("ExecStart=/usr/local/bin/x.sh", "ExecStart=/usr/bin/true"),
        )],
        vec![],
    );
    assert!(!has(&system, "I3S051"));
}
rule_case!(i3s052_dependencies_exist, "I3S052",
    fail: Case::plan(&[("unit", &UNIT.replace("After=multi-user.target", "Requires=consul-instal.service"))], vec![]),
    pass: Case::plan(&[("unit", &UNIT.replace("After=multi-user.target", "After=network-online.target docker.service"))], vec![]));
rule_case!(i3s053_wants_link_name, "I3S053",
    fail: Case::plan(&[("unit", &UNIT.replace("multi-user.target.wants/x.service", "multi-user.target.wants/old-name.service"))], vec![]),
    pass: Case::plan(&[("unit", UNIT)], vec![]));
rule_case!(i3s054_wants_link_target_exists, "I3S054",
    fail: Case::plan(&[("unit", &format!("{UNIT}\nln-s /etc/systemd/system/gone.service /etc/systemd/system/multi-user.target.wants/gone.service"))], vec![]),
    pass: Case::plan(&[("unit", UNIT)], vec![]));
rule_case!(i3s055_unit_enabled, "I3S055",
    fail: Case::plan(&[("unit", UNIT.rsplit_once('\n').unwrap().0)], vec![]),
    pass: Case::plan(&[("unit", UNIT)], vec![]));

#[test]
fn i3s055_a_timer_starts_its_service() {
    let service = UNIT.rsplit_once('\n').unwrap().0;
    let timer = "upload -<<END /etc/systemd/system/x.timer\n[Unit]\nDescription=t\n\n[Timer]\nOnBootSec=1min\n\n[Install]\nWantedBy=timers.target\nEND\nln-sf /etc/systemd/system/x.timer /etc/systemd/system/timers.target.wants/x.timer";
    assert!(!has(
        &Case::plan(&[("unit", service), ("timer", timer)], vec![]),
        "I3S055"
    ));
}

// ---- contracts
const USES_MARKER: &str = "upload -<<END /usr/local/bin/nova.sh\n#!/bin/bash\nif [[ ! -f /root/.DAS.consumed ]] ; then\n  exit 1\nfi\nEND";
const WRITES_MARKER: &str =
    "upload -<<END /usr/local/bin/docker.sh\n#!/bin/bash\necho mpatha > /root/.DAS.consumed\nEND";
rule_case!(i3s060_marker_written_earlier, "I3S060",
    fail: Case::plan(&[("docker", "echo no marker"), ("nova", USES_MARKER)], vec![]),
    pass: Case::plan(&[("docker", WRITES_MARKER), ("nova", USES_MARKER)], vec![]));
#[test]
fn i3s060_marker_written_too_late() {
    let c = Case::plan(&[("nova", USES_MARKER), ("docker", WRITES_MARKER)], vec![]);
    let found = c.findings();
    let f = found.iter().find(|f| f.rule == "I3S060").expect("I3S060");
    assert!(f.message.contains("too late"), "{}", f.message);
    assert_eq!(f.artifact, "plan");
    assert_eq!(f.place.line, Some(3));
}
const USES_CONSUL: &str = "upload -<<END /usr/local/bin/k.sh\n#!/bin/bash\nJOIN=$(docker exec consul consul kv get k8s/join)\necho \"$JOIN\"\nEND";
const STARTS_CONSUL: &str = "upload -<<END /usr/local/bin/c.sh\n#!/bin/bash\ndocker run -d --name=\"consul\" --net=host consul agent\nEND";
rule_case!(i3s061_container_started_earlier, "I3S061",
    fail: Case::plan(&[("k8s", USES_CONSUL), ("consul", STARTS_CONSUL)], vec![]),
    pass: Case::plan(&[("consul", STARTS_CONSUL), ("k8s", USES_CONSUL)], vec![]));

// ---- shell
#[test]
fn i3s070_shellcheck_maps_findings_to_plan_script_lines() {
    if !common::require_tool("shellcheck") {
        return;
    }
    let run = |content: &str| {
        let c = Case::plan(
            &[("work", content)],
            vec![attr("DIR", AttributeType::String, "")],
        );
        let bundle = c.bundle();
        let target = Target::new("t.zip".into(), &bundle, Vec::new(), Vec::new(), Vec::new());
        lint::lint_target(
            &target,
            &LintOptions {
                shellcheck: true,
                ..Default::default()
            },
        )
    };
    let report =
        run("# header\nupload -<<END /usr/local/bin/x.sh\n#!/bin/bash\nD=@DIR@\nrm -rf $D/*\nEND");
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "I3S070")
        .expect("shellcheck finding");
    assert_eq!(f.place.line, Some(5), "{f:#?}");
    assert!(
        f.code.as_deref().is_some_and(|c| c.starts_with("SC")),
        "{f:#?}"
    );
    let clean =
        run("upload -<<END /usr/local/bin/x.sh\n#!/bin/bash\nD=@DIR@\nrm -rf \"${D:?}\"/*\nEND");
    assert!(
        !clean.findings.iter().any(|f| f.rule == "I3S070"),
        "{:#?}",
        clean.findings
    );
    assert!(clean.notices.is_empty());
}
rule_case!(i3s071_sed_without_literal_newline, "I3S071",
    fail: Case::plan(&[("k8s", "upload -<<END /usr/local/bin/k.sh\n#!/bin/bash\nsed -i 's#a=.*#a=--x\ntrue#g' /etc/k.conf\nEND")], vec![]),
    pass: Case::plan(&[("k8s", "upload -<<END /usr/local/bin/k.sh\n#!/bin/bash\nsed -i 's#a=.*#a=--x true#g' /etc/k.conf\nEND")], vec![]));
rule_case!(i3s072_shell_heredoc_closed, "I3S072",
    fail: Case::plan(&[("w", "upload -<<END /usr/local/bin/w.sh\n#!/bin/bash\ncat <<EOF > /etc/x\nhello\nEND")], vec![]),
    pass: Case::plan(&[("w", "upload -<<END /usr/local/bin/w.sh\n#!/bin/bash\ncat <<EOF > /etc/x\nhello\nEOF\nEND")], vec![]));

// ---- prose
const STATIC_BOND: &str = "upload -<<END /usr/local/bin/bond.sh\n#!/bin/bash\ncat <<EOF > /etc/sysconfig/network-scripts/ifcfg-bond0\nBOOTPROTO=none\nIPADDR=@SERVER_IP@\nEOF\nEND";
rule_case!(i3s080_description_matches_steps, "I3S080",
    fail: Case::plan_with("docker", "Provision a node with DHCP NIC bonding", &[("bond", STATIC_BOND)], vec![attr("SERVER_IP", AttributeType::Ipv4, "")]),
    pass: Case::plan_with("docker", "Provision a node with NIC bonding (static IP)", &[("bond", STATIC_BOND)], vec![attr("SERVER_IP", AttributeType::Ipv4, "")]));

// ---- secrets
rule_case!(i3s090_password_without_default, "I3S090",
    fail: Case::plan(&[("w", "echo @Password@")], vec![attr("Password", AttributeType::Password, "changeme")]),
    pass: Case::plan(&[("w", "echo @Password@")], vec![attr("Password", AttributeType::Password, "")]));
rule_case!(i3s091_secret_files_restricted, "I3S091",
    fail: Case::plan(&[("w", "upload -<<END /etc/app.conf\npassword=@Password@\nEND")], vec![attr("Password", AttributeType::Password, "")]),
    pass: Case::plan(&[("w", "upload -<<END /etc/app.conf\npassword=@Password@\nEND\nchmod 0600 /etc/app.conf")], vec![attr("Password", AttributeType::Password, "")]));
#[test]
fn i3s091_shell_redirect_of_a_secret() {
    let pw = || vec![attr("Password", AttributeType::Password, "")];
    let fail = Case::plan(
        &[(
            "w",
            "upload -<<END /usr/local/bin/w.sh\n#!/bin/bash\necho '@Password@' > /root/.pw\nEND",
        )],
        pw(),
    );
    assert!(has(&fail, "I3S091"));
    let pass = Case::plan(
        &[(
            "w",
            "upload -<<END /usr/local/bin/w.sh\n#!/bin/bash\numask 077\necho '@Password@' > /root/.pw\nEND",
        )],
        pw(),
    );
    assert!(!has(&pass, "I3S091"));
}

// ---- inline allow comments
#[test]
fn inline_allow_comment_suppresses_on_the_next_line_only() {
    let allowed = Case::plan(
        &[(
            "w",
            "# i3s-lint: allow I3S040\nfrobnicate /x\nfrobnicate /y",
        )],
        vec![],
    );
    let found: Vec<usize> = allowed
        .findings()
        .iter()
        .filter(|f| f.rule == "I3S040")
        .filter_map(|f| f.place.line)
        .collect();
    assert_eq!(found, [3]);
    let whole = Case::plan(
        &[(
            "w",
            "# i3s-lint: allow-file I3S040\nfrobnicate /x\nfrobnicate /y",
        )],
        vec![],
    );
    assert!(!has(&whole, "I3S040"));
    let mut orphan = Case::plan(&[("w", "touch /x")], vec![]);
    orphan.scripts.push(script(
        "orphan",
        "# i3s-lint: allow-file I3S011 -- a library script\ntouch /y",
    ));
    assert!(!has(&orphan, "I3S011"));
}

#[test]
fn config_allow_lists_by_rule_and_artifact() {
    let c = Case::plan(&[("w", "frobnicate /x"), ("v", "frobnicate /y")], vec![]);
    let bundle = c.bundle();
    let target = Target::new("t.zip".into(), &bundle, Vec::new(), Vec::new(), Vec::new());
    let config = lint::Config::parse(
        "[[allow_in]]\nrule = \"I3S040\"\nartifacts = [\"w\"]\n",
        "i3s-lint.toml".as_ref(),
    )
    .unwrap();
    let report = lint::lint_target(
        &target,
        &LintOptions {
            config,
            ..Default::default()
        },
    );
    let artifacts: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule == "I3S040")
        .map(|f| f.artifact.as_str())
        .collect();
    assert_eq!(artifacts, ["v"]);
    assert_eq!(report.suppressed, 1);
    let bad = lint::Config::parse("allow = [\"I3S999\"]", "i3s-lint.toml".as_ref())
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("i3s-lint.toml") && bad.contains("I3S999"),
        "{bad}"
    );
    let bad = lint::Config::parse("deny = \"warnings\"\n", "i3s-lint.toml".as_ref())
        .unwrap_err()
        .to_string();
    assert!(bad.contains("i3s-lint.toml:1:"), "{bad}");
}

#[test]
fn every_rule_has_a_case() {
    let this = include_str!("lint_rules.rs");
    let hygiene = include_str!("lint_hygiene.rs");
    for rule in lint::RULES {
        let quoted = format!("\"{}\"", rule.id);
        assert!(
            this.matches(&quoted).count() + hygiene.matches(&quoted).count() >= 1,
            "{} has no test case",
            rule.id
        );
    }
}

// ---- host
rule_case!(i3s044_no_host_escapes, "I3S044",
    fail: Case::plan(&[("work", "cat /etc/passwd | mail someone")], vec![]),
    pass: Case::plan(&[("work", "upload -<<END /etc/motd\nwelcome | not a pipe\nEND")], vec![]));
rule_case!(i3s045_no_injectable_placeholders, "I3S045",
fail: Case::plan(&[("work", "mkdir-p @DIR@")], vec![attr("DIR", AttributeType::String, "/opt")]),
pass: {
    let mut dir = attr("DIR", AttributeType::String, "/opt");
    dir.constraints = Constraints::decode(r#"{"regex":"/[A-Za-z0-9_/.-]+"}"#).unwrap();
    Case::plan(&[("work", "mkdir-p @DIR@\nupload -<<END /etc/motd\n@GREETING@\nEND")],
        vec![dir, attr("GREETING", AttributeType::String, "hi")])
});

#[test]
fn i3s044_names_every_host_form_and_i3s040_leaves_them_to_it() {
    let c = Case::plan(
        &[(
            "w",
            "!touch /x\n<!echo ls\nupload /etc/shadow /s\ndownload /etc/x -\nlcd /tmp\n@CMD@ /x",
        )],
        vec![attr("CMD", AttributeType::String, "ls")],
    );
    let found = c.findings();
    let lines: Vec<usize> = found
        .iter()
        .filter(|f| f.rule == "I3S044")
        .filter_map(|f| f.place.line)
        .collect();
    assert_eq!(lines, [1, 2, 3, 5, 6], "{found:#?}");
    assert!(
        !found
            .iter()
            .any(|f| f.rule == "I3S040" && f.place.line <= Some(2)),
        "{found:#?}"
    );
    // Typed attributes that reject blanks, quotes and `|` are safe on a command line.
    let c = Case::plan(
        &[("w", "mkdir-p /srv/@N@")],
        vec![attr("N", AttributeType::Number, "1")],
    );
    assert!(!has(&c, "I3S045"), "{:#?}", c.findings());
}

// ---- capability (sources only: the target carries contracts and the OS posture)
mod capability {
    use super::*;
    use i3s_bundle::lint::target::SourceFacts;
    use i3s_bundle::source::contract::Contract;
    use i3s_bundle::source::profile::{Firewall, Posture, SelinuxMode};

    /// Findings of `case` linted as if from sources: `contracts` by plan-script name.
    pub fn findings(
        case: &Case,
        contracts: &[(&str, Contract)],
        policies: &std::path::Path,
    ) -> Vec<Finding> {
        let bundle = case.bundle();
        let mut target = Target::new(
            "test.zip".into(),
            &bundle,
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        target.sources = Some(SourceFacts {
            contracts: bundle
                .plan_scripts
                .iter()
                .map(|s| {
                    let c = contracts
                        .iter()
                        .find(|(n, _)| *n == s.name)
                        .map(|(_, c)| c.clone());
                    (
                        c.unwrap_or_default(),
                        Some(format!("templates/{}.j2", s.name).into()),
                    )
                })
                .collect(),
            os: Some("centos7.4".into()),
            posture: Some(Posture {
                selinux: SelinuxMode::Enforcing,
                firewall: Firewall::Firewalld,
                open: vec!["22/tcp".into()],
            }),
            consul_policies: policies.to_path_buf(),
        });
        lint::lint_target(&target, &LintOptions::default()).findings
    }

    pub fn contract(ports: &[&str], secrets: &[&str], consul: &[&str]) -> Contract {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Contract {
            ports: own(ports),
            secret_paths: own(secrets),
            consul_endpoints: own(consul),
            ..Default::default()
        }
    }

    pub fn assert_rule(id: &str, fail: Vec<Finding>, pass: Vec<Finding>) {
        assert!(
            fail.iter().any(|f| f.rule == id),
            "{id} not reported: {fail:#?}"
        );
        assert!(
            !pass.iter().any(|f| f.rule == id),
            "{id} reported on the passing example: {pass:#?}"
        );
    }
}

#[test]
fn i3s110_ports_are_opened_on_a_firewalled_image() {
    use capability::*;
    let dir = tempfile::tempdir().unwrap();
    let listens = [("consul", contract(&["8301/tcp", "8301/udp"], &[], &[]))];
    let fail = Case::plan(
        &[(
            "consul",
            "upload -<<END /usr/local/bin/c.sh\nfirewall-cmd --permanent --add-port=8301/tcp\nEND",
        )],
        vec![],
    );
    let pass = Case::plan(
        &[(
            "consul",
            "upload -<<END /usr/local/bin/c.sh\nfirewall-cmd --permanent --add-port=8301/tcp\nopen_ports 8301/udp\nEND",
        )],
        vec![],
    );
    let found = findings(&fail, &listens, dir.path());
    assert_rule(
        "I3S110",
        found.clone(),
        findings(&pass, &listens, dir.path()),
    );
    assert!(
        found.iter().any(|f| f
            .message
            .contains("8301/udp (declared by templates/consul.j2)")),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|f| f.message.contains("8301/tcp")),
        "{found:#?}"
    );
}

#[test]
fn i3s111_bind_mounts_are_labelled_on_an_enforcing_image() {
    use capability::*;
    let dir = tempfile::tempdir().unwrap();
    let run = |opts: &str| {
        Case::plan(
            &[(
                "consul",
                &*format!(
                    "upload -<<END /usr/local/bin/c.sh\ndocker run -d \\\n  -v /var/lib/consul:/consul/data{opts} \\\n  hashicorp/consul\nEND"
                ),
            )],
            vec![],
        )
    };
    assert_rule(
        "I3S111",
        findings(&run(""), &[], dir.path()),
        findings(&run(":Z"), &[], dir.path()),
    );
}

#[test]
fn i3s112_capture_removes_every_secret_the_deploy_plans_write() {
    use capability::*;
    let dir = tempfile::tempdir().unwrap();
    let with_capture = |removes: &str| {
        let mut case = Case::plan(&[("consul", "touch /etc/consul.d/token")], vec![]);
        let capture = Case::plan_with("capture", "", &[("generalize", removes)], vec![]);
        let mut plan = capture.plans[0].clone();
        plan.build_plan_type = "capture".into();
        case.plans.push(plan);
        case.scripts.extend(
            capture
                .scripts
                .into_iter()
                .filter(|s| s.name == "generalize"),
        );
        case
    };
    let secrets = [(
        "consul",
        contract(&[], &["/etc/consul.d", "/root/kubeadm-init.log"], &[]),
    )];
    let fail = findings(&with_capture("rm-rf /etc/consul.d"), &secrets, dir.path());
    assert!(
        fail.iter()
            .any(|f| f.rule == "I3S112" && f.message.contains("/root/kubeadm-init.log")),
        "{fail:#?}"
    );
    assert!(
        !fail
            .iter()
            .any(|f| f.rule == "I3S112" && f.message.contains("/etc/consul.d")),
        "{fail:#?}"
    );
    assert_rule(
        "I3S112",
        fail,
        findings(
            &with_capture("rm-rf /etc/consul.d\nglob rm-f /root/kubeadm-*"),
            &secrets,
            dir.path(),
        ),
    );
}

#[test]
fn i3s113_consul_calls_are_granted_by_the_role_policy() {
    use capability::*;
    let dir = tempfile::tempdir().unwrap();
    let calls = [(
        "consul",
        contract(
            &[],
            &[],
            &[
                "GET /v1/agent/self",
                "PUT /v1/kv/<PREFIX>/nodes/<host>/status",
            ],
        ),
    )];
    let mut prefix = attr("PREFIX", AttributeType::String, "synergy");
    prefix.description = Some("KV prefix".into());
    let case = Case::plan(&[("consul", "touch /etc/x\n# @PREFIX@")], vec![prefix]);
    // No policy file at all, then one without agent:read, then the least-privilege one.
    let missing = findings(&case, &calls, dir.path());
    assert!(
        missing
            .iter()
            .any(|f| f.rule == "I3S113" && f.message.contains("ships no ACL policy")),
        "{missing:#?}"
    );
    std::fs::write(
        dir.path().join("plan.hcl"),
        "key_prefix \"synergy/nodes/\" { policy = \"write\" }\n",
    )
    .unwrap();
    let denied = findings(&case, &calls, dir.path());
    assert!(
        denied
            .iter()
            .any(|f| f.rule == "I3S113" && f.message.contains("agent:read")),
        "{denied:#?}"
    );
    assert!(
        !denied.iter().any(|f| f.message.contains("key:write")),
        "{denied:#?}"
    );
    let denied = denied.clone();
    std::fs::write(
        dir.path().join("plan.hcl"),
        "agent_prefix \"\" { policy = \"read\" }\nkey_prefix \"synergy/nodes/\" { policy = \"write\" }\n",
    )
    .unwrap();
    assert_rule("I3S113", denied, findings(&case, &calls, dir.path()));
}
