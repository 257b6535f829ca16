use crate::simulator::{Faults, SimConfig, Simulator};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Serve HTTPS with a fresh self-signed CA; its certificate is written to --ca-cert-out.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the CA certificate for clients' --ca-cert (default DATA_DIR/ca.pem).
    #[arg(long, value_name = "FILE")]
    pub ca_cert_out: Option<PathBuf>,
    /// Keep the appliance state in FILE across restarts.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Where uploaded bundles are stored (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Faults to inject, e.g. "latency=20ms,5xx=0.2,task-error=1,reset-upload=1,slow-tasks=2s,etag-race=1,seed=7".
    #[arg(long, value_name = "SPEC", default_value = "")]
    pub faults: String,
    /// Polls a task answers "Running" before it completes.
    #[arg(long, default_value_t = 1)]
    pub task_polls: u32,
    /// The API version the simulator reports as current.
    #[arg(long, default_value_t = 2000)]
    pub api_version: u32,
    /// The user name accepted at login; the password comes from I3S_SIM_PASSWORD (default "simulator").
    #[arg(long, default_value = "administrator")]
    pub user: String,
    /// Also run a Consul stand-in here (ACL token from I3S_SIM_CONSUL_TOKEN) whose nodes come up
    /// by themselves once their server is powered on (for trying `deploy`).
    #[arg(long, value_name = "ADDR")]
    pub consul_listen: Option<SocketAddr>,
    /// Health reads a simulated first boot takes in the Consul stand-in.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub consul_boot_reads: u32,
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let faults = Faults::parse(&args.faults).map_err(crate::Error::Usage)?;
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| args.state.as_ref().map(|s| s.with_extension("data")));
    let config = SimConfig {
        listen: args.listen,
        tls: args.tls,
        ca_cert_out: args.ca_cert_out,
        data_dir,
        state_file: args.state,
        faults,
        task_polls: args.task_polls,
        current_version: args.api_version,
        user: args.user,
        password: std::env::var("I3S_SIM_PASSWORD").unwrap_or_else(|_| "simulator".into()),
        ..SimConfig::default()
    };
    let simulator = Simulator::start(config).map_err(crate::Error::Usage)?;
    let consul = match args.consul_listen {
        Some(listen) => {
            let token = std::env::var("I3S_SIM_CONSUL_TOKEN").ok().filter(|t| !t.is_empty()).ok_or_else(|| {
                crate::Error::Usage("--consul-listen: set I3S_SIM_CONSUL_TOKEN to the ACL token the stand-in accepts".into())
            })?;
            let auto = crate::simulator::consul::AutoBoot {
                appliance: simulator.base_url.clone(),
                boot_reads: args.consul_boot_reads,
            };
            Some(
                crate::simulator::consul::ConsulStandIn::start_auto(listen, &token, Some(auto))
                    .map_err(crate::Error::Usage)?,
            )
        }
        None => None,
    };
    // Written without panicking when the reader has gone (a test keeps only the first line).
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "simulator listening on {}", simulator.base_url);
    if let Some(ca) = &simulator.ca_cert {
        let _ = writeln!(
            out,
            "CA certificate: {} (pass it as --ca-cert)",
            ca.display()
        );
    }
    let _ = writeln!(
        out,
        "test hooks: GET {0}/sim/requests, POST {0}/sim/seed, PUT {0}/sim/faults",
        simulator.base_url
    );
    if let Some(consul) = &consul {
        let _ = writeln!(
            out,
            "consul stand-in listening on {} (CONSUL_HTTP_ADDR)",
            consul.base_url
        );
    }
    let _ = out.flush();
    simulator.wait();
    drop(consul);
    Ok(ExitCode::SUCCESS)
}
