//! The HPE SDK settings beyond address and credentials (#15 point 4), read as oneview-python
//! reads them: `ONEVIEWSDK_PROXY` (an HTTP CONNECT proxy, `host:port`),
//! `ONEVIEWSDK_CONNECTION_TIMEOUT` (seconds) and `ONEVIEWSDK_SESSIONID` (an existing session
//! instead of a login), and their `config.json` keys `proxy`, `timeout`, `credentials.sessionID`.
//! Real requests on loopback: a CONNECT proxy written here, a listener that never answers, the
//! simulator's request log.
use crate::publish_support::{
    PASSWORD, command_with_env, post, requests, seed_appliance, sim_config, start, test_bundle,
    text,
};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A minimal HTTP CONNECT proxy on a free loopback port: records each CONNECT target, then
/// copies bytes both ways. Returns its `host:port` and the record.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || tunnel(client, &record));
        }
    });
    (address, seen)
}

fn tunnel(client: TcpStream, record: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
            break;
        }
    }
    let mut words = request_line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = (&client).write_all(b"HTTP/1.1 405 Only CONNECT\r\n\r\n");
        return;
    };
    record.lock().unwrap().push(target.to_string());
    let Ok(upstream) = TcpStream::connect(target) else {
        let _ = (&client).write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    (&client)
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let (mut up_write, mut client_write) = (upstream.try_clone().unwrap(), client);
    let mut up_read = upstream;
    // Bytes the reader buffered past the headers belong to the tunnel.
    let buffered = reader.buffer().to_vec();
    let to_upstream = std::thread::spawn(move || {
        let _ = up_write.write_all(&buffered);
        let _ = std::io::copy(&mut reader, &mut up_write);
        let _ = up_write.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = to_upstream.join();
}

fn no_paths() -> Vec<(&'static str, &'static Path)> {
    Vec::new()
}

#[test]
fn every_appliance_request_goes_through_the_sdk_proxy() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let (proxy, seen) = connect_proxy();
    let sim_authority = sim.base_url.trim_start_matches("http://").to_string();
    let out = command_with_env(
        &sim,
        "publish",
        &[bundle.to_str().unwrap(), "--dry-run", "--json"],
        &[("ONEVIEWSDK_PROXY", Path::new(&proxy))],
    );
    assert!(out.status.success(), "{}", text(&out));
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|t| *t == sim_authority),
        "CONNECTs: {seen:?}"
    );
    // The simulator saw the login arrive (through the tunnel: the proxy is the only way the
    // test could have counted a CONNECT to it).
    assert_eq!(requests(&sim)["counts"]["POST /rest/login-sessions"], 1);

    // config.json's "proxy" too, and a proxy that is down fails the run, naming nothing secret.
    let (proxy, seen) = connect_proxy();
    let config = dir.path().join("config.json");
    std::fs::write(&config, format!(r#"{{"proxy": "{proxy}"}}"#)).unwrap();
    let args = [
        bundle.to_str().unwrap(),
        "--dry-run",
        "--config",
        config.to_str().unwrap(),
    ];
    let out = command_with_env(&sim, "publish", &args, &no_paths());
    assert!(out.status.success(), "{}", text(&out));
    assert!(!seen.lock().unwrap().is_empty());
    let out = command_with_env(
        &sim,
        "publish",
        &[bundle.to_str().unwrap(), "--dry-run", "--attempts", "1"],
        &[("ONEVIEWSDK_PROXY", Path::new("127.0.0.1:1"))],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD), "{}", text(&out));
    // Not a host:port: refused before any request, naming the variable.
    let out = command_with_env(
        &sim,
        "publish",
        &[bundle.to_str().unwrap(), "--dry-run"],
        &[("ONEVIEWSDK_PROXY", Path::new("proxy.lab"))],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("ONEVIEWSDK_PROXY"), "{}", text(&out));
}

#[test]
fn the_sdk_connection_timeout_bounds_a_silent_appliance() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let mut sim = start(sim_config());
    sim.base_url = address;
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let started = Instant::now();
    let out = command_with_env(
        &sim,
        "publish",
        &[bundle.to_str().unwrap(), "--dry-run", "--attempts", "1"],
        &[("ONEVIEWSDK_CONNECTION_TIMEOUT", Path::new("1.5"))],
    );
    let took = started.elapsed();
    assert!(!out.status.success(), "{}", text(&out));
    // The default read bound is 2 minutes: ending this soon shows the SDK setting was used.
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "{took:?}\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("ONEVIEWSDK_CONNECTION_TIMEOUT"),
        "{}",
        text(&out)
    );
    // A flag still wins over the variable.
    let started = Instant::now();
    let out = command_with_env(
        &sim,
        "publish",
        &[
            bundle.to_str().unwrap(),
            "--dry-run",
            "--attempts",
            "1",
            "--read-timeout",
            "300ms",
        ],
        &[("ONEVIEWSDK_CONNECTION_TIMEOUT", Path::new("60"))],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    let out = command_with_env(
        &sim,
        "publish",
        &[bundle.to_str().unwrap(), "--dry-run"],
        &[("ONEVIEWSDK_CONNECTION_TIMEOUT", Path::new("soon"))],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// `publish` with a session id and no user name or password at all.
fn publish_with_session(
    sim: &i3s_bundle::simulator::Simulator,
    bundle: &Path,
    session: &str,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_i3s-bundle"));
    cmd.args(["publish", bundle.to_str().unwrap(), "--insecure"]);
    cmd.args(["--retry-delay", "5", "--poll-interval", "5"]);
    for (key, _) in std::env::vars() {
        if key.starts_with("ONEVIEWSDK_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("ONEVIEWSDK_IP", &sim.base_url)
        .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &sim.base_url)
        .env("ONEVIEWSDK_SESSIONID", session)
        .env("CI", "true");
    cmd.output().unwrap()
}

#[test]
fn an_sdk_session_id_is_used_instead_of_a_login_and_left_open() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let (status, login) = post(
        &sim,
        "/rest/login-sessions",
        &serde_json::json!({"userName": "administrator", "password": PASSWORD}),
    );
    assert_eq!(status, 200, "{login}");
    let session = login["sessionID"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let out = publish_with_session(&sim, &bundle, &session);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&session), "{}", text(&out));
    let counts = requests(&sim)["counts"].clone();
    // Only the test's own login; the session checked with a PUT as the SDK does; not logged out.
    assert_eq!(counts["POST /rest/login-sessions"], 1, "{counts}");
    assert_eq!(counts["PUT /rest/login-sessions"], 1, "{counts}");
    assert!(counts["DELETE /rest/login-sessions"].is_null(), "{counts}");
    assert!(
        counts["POST /rest/artifact-bundles"].as_u64() >= Some(1),
        "{counts}"
    );

    // An unknown session: refused up front, saying what to do, without echoing it.
    let out = publish_with_session(&sim, &bundle, "not-a-session-4711");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("ONEVIEWSDK_SESSIONID") && !text(&out).contains("not-a-session-4711"),
        "{}",
        text(&out)
    );
}
