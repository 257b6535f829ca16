//! Every variant the spec lists reads, and writes back byte for byte: SHA-1 flavour, `etag` next
//! to `eTag`, deployment plans with names in their `*URI` fields, golden images with a payload,
//! unknown keys, arbitrary key order, missing optional keys, constraints with odd spacing.
use crate::common;
use common::*;
use i3s_bundle::bundle::container::ZipWriter;
use i3s_bundle::bundle::{
    AttributeType, ChecksumFlavour, EntryKind, PlanScript, ReadOptions, read_bundle,
    verify::verify, write_bundle,
};
use sha1::Digest;

const PS: &str = "0b7a4c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const BP: &str = "1b7a4c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const DP: &str = "2b7a4c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const GI: &str = "3b7a4c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

fn entries(payload: &[u8]) -> Vec<(String, Vec<u8>)> {
    let ps = format!(
        r#"{{"content":"mount /dev/cl/root /\necho @Hostname:node1@ – “quoted”\tend","id":"{PS}","type":"PlanScript","name":"Mount – ünïcode","planType":"general","hpProvided":false,"description":null,"futureKey":{{"nested":[1,2.5,"x"]}}}}"#
    );
    let bp = format!(
        r#"{{"buildPlanid":"{BP}","type":"OeBuildPlan","etag":"1441036118675/8","eTag":null,"name":"Plan","oeBuildPlanType":"deploy","hpProvided":false,"buildStep":[{{"planScriptUri":"/rest/plan-scripts/{PS}","serialNumber":"1","parameters":null,"planScriptName":"Mount – ünïcode"}}],"customAttributes":[{{"value":"node1","type":"hostname","name":"Hostname","description":"","constraints":"{{ \"helpText\" : \"short name\" }}"}},{{"name":"Count","type":"number","value":"3","description":"n","constraints":"{{\"minimum\":\"1\",\"maximum\":\"8\",\"unit\":\"GB\"}}"}}]}}"#
    );
    let dp = format!(
        r#"{{"type":"OEDeploymentPlan","id":"{DP}","name":"Deploy","description":"","hpProvided":false,"oeBuildPlanURI":"Plan","goldenImageURI":"Image One","customAttributes":[{{"id":"4b7a4c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b","name":"Hostname","type":"hostname","value":"","constraints":"{{}}","description":"","visible":true,"editable":false}}],"uri":null,"category":null,"eTag":null,"created":null,"modified":null,"status":null}}"#
    );
    let gi = format!(
        r#"{{"type":"GoldenImage","id":"{GI}","name":"Image One","description":"d","bundleName":null,"size":0,"readOnly":false,"importedFromBundle":true,"imageCapture":false,"checkSum":null}}"#
    );
    let manifest = "Artifact Name:variants\nDescription:line one\nline two: with colon\nRead Only:true\nTime Stamp:2017-05-11T10:00:00.000Z\nArtifact Type:USER".to_string();
    let mut list = vec![
        (format!("{PS}_planscript.json"), ps.into_bytes()),
        (format!("{GI}_goldenimage.json"), gi.into_bytes()),
        ("Image One".to_string(), payload.to_vec()),
        (format!("{BP}_buildplan.json"), bp.into_bytes()),
        (format!("{DP}_deploymentplan.json"), dp.into_bytes()),
        ("MANIFEST.MF".to_string(), manifest.into_bytes()),
    ];
    let sums: String = list
        .iter()
        .map(|(n, b)| format!("{n}\t{}\n", hex::encode(sha1::Sha1::digest(b))))
        .collect();
    list.push(("SHA1SUM.sha1sum".to_string(), sums.into_bytes()));
    list
}

#[test]
fn every_variant_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let original = entries(&payload);
    let path = dir.path().join("variants.zip");
    let mut zip = ZipWriter::new(
        std::fs::File::create(&path).unwrap(),
        time::macros::datetime!(2017-05-11 10:00:00 UTC),
    );
    for (name, bytes) in &original {
        zip.add_entry(name, &mut &bytes[..], Some(bytes.len() as u64), &mut |_| {})
            .unwrap();
    }
    zip.finish().unwrap();

    let loaded = read_bundle(&path, &ReadOptions::default()).unwrap();
    let report = verify(&loaded);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let bundle = &loaded.bundle;
    assert_eq!(bundle.checksum, ChecksumFlavour::Sha1);
    assert_eq!(
        bundle.manifest.description,
        "line one\nline two: with colon"
    );
    assert!(bundle.manifest.read_only);
    let plan = &bundle.build_plans[0];
    assert_eq!(plan.extra["etag"], "1441036118675/8");
    assert!(plan.extra.contains_key("eTag"));
    assert_eq!(
        plan.custom_attributes[0].attribute_type,
        AttributeType::Hostname
    );
    assert_eq!(
        plan.custom_attributes[0].constraints.help_text().as_deref(),
        Some("short name")
    );
    assert_eq!(
        plan.custom_attributes[1].constraints.number("maximum"),
        Some(8.0)
    );
    assert!(plan.custom_attributes[1].check_value("9").is_err());
    assert!(plan.custom_attributes[1].check_value("4").is_ok());
    assert_eq!(bundle.deployment_plans[0].build_plan, "Plan");
    assert_eq!(
        bundle.deployment_plans[0].golden_image_name(),
        Some("Image One")
    );
    assert_eq!(
        bundle.deployment_plans[0].custom_attributes[0].editable,
        Some(false)
    );
    assert!(bundle.plan_scripts[0].extra.contains_key("futureKey"));
    assert_eq!(
        loaded
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::GoldenImagePayload)
            .count(),
        1
    );

    let out = dir.path().join("out/variants.zip");
    write_bundle(bundle, &out).unwrap();
    let again = read_bundle(&out, &ReadOptions::default()).unwrap();
    // Equal models, except that the payload now streams from the new zip.
    let without_payload_source = |b: &i3s_bundle::bundle::Bundle| {
        let mut b = b.clone();
        b.golden_images.iter_mut().for_each(|g| g.payload = None);
        b
    };
    assert_eq!(
        without_payload_source(&again.bundle),
        without_payload_source(bundle)
    );
    for (name, bytes) in &original {
        let rewritten = match again.raw_entry(name) {
            Some(b) => b.to_vec(),
            None => {
                // The payload is streamed, not kept: read it back with the zip crate.
                let mut archive = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut data).unwrap();
                data
            }
        };
        assert_eq!(
            String::from_utf8_lossy(&rewritten),
            String::from_utf8_lossy(bytes),
            "{name} changed"
        );
    }
    unzip_test(&out).unwrap();
    python_zip_check(&out).unwrap();
}

#[test]
fn artifacts_built_from_source_use_the_newest_key_order() {
    let script = PlanScript::new(PS.into(), "n".into(), "d".into(), "deploy", "echo".into());
    let json =
        String::from_utf8(i3s_bundle::bundle::write::artifact_json(&script).unwrap()).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"type":"PlanScript","uri":null,"category":null,"eTag":null,"created":null,"modified":null,"id":"{PS}","name":"n","description":"d","status":null,"state":null,"planType":"deploy","content":"echo","customAttributes":null,"hpProvided":false,"dependentArtifacts":null}}"#
        )
    );
}
