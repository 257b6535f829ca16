//! A newcomer's connection mistakes (issue 18, point 3) over real HTTP on loopback: each is named
//! with what to do, at once when a repeat cannot help; a refused connection is retried, and every
//! retry shows on stderr as it happens. Exit code 2 as before: nothing was sent.
use crate::publish_support;
use publish_support::{PASSWORD, sim_config, start};
use std::io::BufRead;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous for a loaded CI machine, well under the 7.5 s the default retries take.
const AT_ONCE: Duration = Duration::from_secs(3);

/// `i3s-bundle pull` (a login, then a lookup) with both appliances at `address`; the default
/// retry timing unless `args` sets one.
fn pull(address: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"));
    cmd.args(["pull", "some-bundle"]).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("ONEVIEWSDK_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("ONEVIEWSDK_IP", address)
        .env("ONEVIEWSDK_IMAGE_STREAMER_IP", address)
        .env("ONEVIEWSDK_USERNAME", "administrator")
        .env("ONEVIEWSDK_PASSWORD", PASSWORD);
    cmd
}

fn timed(mut cmd: Command) -> (Output, Duration, String) {
    let started = Instant::now();
    let out = cmd.output().expect("i3s-bundle runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, started.elapsed(), stderr)
}

fn authority(base_url: &str) -> &str {
    base_url.split_once("://").unwrap().1
}

#[test]
fn an_https_address_of_a_plain_http_server_is_named_at_once() {
    let sim = start(sim_config());
    let address = authority(&sim.base_url).to_string(); // no scheme: https is assumed
    let (out, took, stderr) = timed(pull(&address, &[]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{address} speaks plain HTTP, not HTTPS: write http://{address} and pass --insecure"
        )),
        "{stderr}"
    );
    assert!(took < AT_ONCE, "took {took:?}: {stderr}");
    assert!(!stderr.contains("attempt"), "not retried: {stderr}");

    // With --insecure already given, only the address is to be fixed.
    let (out, took, stderr) = timed(pull(&address, &["--insecure"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("write http://{address}\n")),
        "{stderr}"
    );
    assert!(took < AT_ONCE, "took {took:?}: {stderr}");
}

#[test]
fn an_http_address_of_a_tls_server_is_named_at_once() {
    let sim = start(i3s_bundle::simulator::SimConfig {
        tls: true,
        ..sim_config()
    });
    let address = authority(&sim.base_url).to_string();
    let (out, took, stderr) = timed(pull(&format!("http://{address}"), &["--insecure"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{address} speaks HTTPS, not plain HTTP: write https://{address}"
        )),
        "{stderr}"
    );
    assert!(took < AT_ONCE, "took {took:?}: {stderr}");
    assert!(!stderr.contains("attempt"), "not retried: {stderr}");
}

#[test]
fn an_untrusted_certificate_names_ca_cert_at_once() {
    let sim = start(i3s_bundle::simulator::SimConfig {
        tls: true,
        ..sim_config()
    });
    let address = authority(&sim.base_url).to_string();
    let (out, took, stderr) = timed(pull(&address, &[]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the appliance's certificate at {address} is not trusted (unknown issuer): pass --ca-cert FILE"
        )),
        "{stderr}"
    );
    assert!(took < AT_ONCE, "took {took:?}: {stderr}");
    assert!(!stderr.contains("attempt"), "not retried: {stderr}");

    // A CA file that did not sign it is named as such.
    let other = start(i3s_bundle::simulator::SimConfig {
        tls: true,
        ..sim_config()
    });
    let wrong_ca = other.ca_cert.clone().unwrap();
    let (out, took, stderr) = timed(pull(&address, &["--ca-cert", wrong_ca.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the certificate of {address} is not signed by the CA in {}",
            wrong_ca.display()
        )),
        "{stderr}"
    );
    assert!(took < AT_ONCE, "took {took:?}: {stderr}");
}

#[test]
fn a_refused_connection_is_said_at_the_first_failure_and_each_retry_shows() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    // Long waits between attempts: the first line must come while the command is still waiting.
    let mut cmd = pull(&address, &["--attempts", "3", "--retry-delay", "1500ms"]);
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("i3s-bundle runs");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let still_running = child.try_wait().unwrap().is_none();
    let first_after = started.elapsed();
    assert!(
        first.contains(&format!(
            "attempt 1 of 3 failed: nothing listens on {address} (connection refused): is the appliance"
        )) && first.contains("trying again in 1s 500ms"),
        "{first}"
    );
    assert!(
        still_running && first_after < AT_ONCE,
        "the first failure shows as it happens, not at the end ({first_after:?})"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{first}{rest}");
    assert!(
        rest.contains("attempt 2 of 3 failed: nothing listens on")
            && rest.contains("trying again in 3s"),
        "{rest}"
    );
    assert!(
        rest.contains(&format!("error: cannot log in to https://{address}"))
            && rest.contains("(gave up after 3 attempts over"),
        "{rest}"
    );
}
