//! Every template renders for every OS profile, every placeholder it emits is registered, and the
//! registry, profiles and bundle sources agree with each other.
mod content_support;
use content_support::*;

#[test]
fn print_template_for_inspection() {
    // `PRINT_TEMPLATE=nic-bond:static:centos7.4 cargo test --test content_render -- --nocapture`
    if let Ok(spec) = std::env::var("PRINT_TEMPLATE") {
        let mut parts = spec.split(':');
        let template = parts.next().unwrap();
        let os = parts.next().unwrap_or("centos7.4");
        let mut params = toml::Table::new();
        for kv in parts {
            let (k, v) = kv.split_once('=').unwrap();
            params.insert(k.into(), toml::Value::String(v.into()));
        }
        let r = render(template, os, &params).unwrap_or_else(|e| panic!("{e}"));
        println!("NAME: {}\nTYPE: {}\nDESC: {}\n-----\n{}\n-----", r.name, r.plan_type, r.description, r.content);
    }
}
