//! Consul and OpenStack helpers run for real. Secrets leave the node's root-only files only on stdin: the rendered `consul_api` and
//! `keystone_create_user` functions run here with the real bash and curl against a loopback HTTP
//! server, which checks the token and password arrived intact, while a `ps`-style snapshot of the
//! curl command line never shows them. (The readiness logic of node-status.sh is tested in
//! content_first_boot.rs.)
use crate::common;
use crate::content_support;
use content_support::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

/// Serves one HTTP request on loopback; returns (request head, body).
fn serve_one(
    listener: TcpListener,
    reply: &'static str,
) -> std::thread::JoinHandle<(String, String)> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        )
        .unwrap();
        (head, String::from_utf8(body).unwrap())
    })
}

fn script_of(plan_suffix: &str, step_part: &str, path: &str) -> String {
    let plan = our_plans()
        .into_iter()
        .find(|p| p.name.ends_with(plan_suffix))
        .unwrap();
    let content = plan
        .steps
        .iter()
        .find(|(n, _)| n.contains(step_part))
        .unwrap()
        .1
        .clone();
    parse_script(&content)
        .unwrap()
        .uploads
        .into_iter()
        .find(|u| u.path == path)
        .unwrap()
        .content
}

/// A curl wrapper that records its own command line, then runs the real curl.
fn recording_curl(dir: &std::path::Path) -> std::path::PathBuf {
    let real = String::from_utf8(run(Command::new("sh").args(["-c", "command -v curl"])).stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(!real.is_empty(), "curl is needed");
    let stub = write(
        dir,
        "curl",
        &format!(
            "#!/bin/sh\necho \"$*\" >>{}/curl-args.log\nexec {real} \"$@\"\n",
            dir.display()
        ),
    );
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir.join("curl-args.log")
}

#[test]
fn consul_token_reaches_the_agent_as_a_header_never_as_an_argument() {
    if !common::require_tool("curl") {
        return;
    }
    let script = script_of("Docker CE", "Host name", "/usr/local/bin/root_ssh_setup.sh");
    let function = bash_function(&script, "consul_api").expect("consul_api");
    let dir = tempfile::tempdir().unwrap();
    let token = "5f4f2b9e-7a64-4d1c-9a3e-0f5c1c2d3e4f";
    let token_file = write(dir.path(), "acl-token", &format!("{token}\n"));
    let args_log = recording_curl(dir.path());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_one(listener, "ssh-ed25519 AAAA test");
    // The function talks to 127.0.0.1:8500; point it at the test server instead.
    let function = function.replace("http://127.0.0.1:8500", &format!("http://127.0.0.1:{port}"));
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\nCONSUL_TOKEN_FILE={}\n{function}\nconsul_api GET '/v1/kv/synergy/root?raw'", token_file.display()))
        .env("PATH", format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap())));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ssh-ed25519 AAAA test"
    );
    let (head, _) = server.join().unwrap();
    assert!(head.starts_with("GET /v1/kv/synergy/root?raw "), "{head}");
    assert!(
        head.contains(&format!("X-Consul-Token: {token}\r\n")),
        "token header missing:\n{head}"
    );
    let args = std::fs::read_to_string(args_log).unwrap();
    assert!(
        !args.contains(token),
        "the token appeared on curl's command line: {args}"
    );
}

#[test]
fn tenant_password_reaches_keystone_in_the_body_never_as_an_argument() {
    if !common::require_tool("curl") {
        return;
    }
    let script = script_of(
        "OpenStack all-in-one",
        "OpenStack all-in-one",
        "/usr/local/bin/openstack-install.sh",
    );
    let functions = format!(
        "{}\n{}",
        bash_function(&script, "json_escape").expect("json_escape"),
        bash_function(&script, "keystone_create_user").expect("keystone_create_user")
    );
    let dir = tempfile::tempdir().unwrap();
    let password = r#"p"a\ss w'rd $HOME %s"#;
    let password_file = write(dir.path(), "password", &format!("{password}\n"));
    let args_log = recording_curl(dir.path());
    let openstack = write(
        dir.path(),
        "openstack",
        "#!/bin/sh\necho gAAAAAtoken-1234\n",
    );
    std::fs::set_permissions(
        &openstack,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_one(listener, "{}");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail\n{functions}\nkeystone_create_user tenant01-user 0123abcd {}",
            password_file.display()
        ))
        .env("OS_AUTH_URL", format!("http://127.0.0.1:{port}/v3"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap()
            ),
        ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, body) = server.join().unwrap();
    assert!(head.starts_with("POST /v3/users "), "{head}");
    assert!(
        head.contains("X-Auth-Token: gAAAAAtoken-1234\r\n"),
        "{head}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"));
    assert_eq!(json["user"]["password"], password, "{body}");
    assert_eq!(json["user"]["name"], "tenant01-user");
    assert_eq!(json["user"]["default_project_id"], "0123abcd");
    let args = std::fs::read_to_string(args_log).unwrap();
    assert!(
        !args.contains("w'rd") && !args.contains("gAAAAA"),
        "a secret appeared on curl's command line: {args}"
    );
}
