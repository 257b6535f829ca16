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
    /// Also run a Consul stand-in here. Its ACL tokens: I3S_SIM_CONSUL_TOKEN (a management
    /// token, what `deploy` reads with) and/or --consul-tokens. Nodes no agent serves come up by
    /// themselves once their server is powered on (for trying `deploy`).
    #[arg(long, value_name = "ADDR")]
    pub consul_listen: Option<SocketAddr>,
    /// Health reads a simulated first boot takes in the Consul stand-in.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub consul_boot_reads: u32,
    /// A local Consul agent for node NODE on loopback address ADDR (repeatable), e.g.
    /// node01=127.0.0.2:8500: the agent API a node's first-boot scripts call (agent self, service
    /// and check registration, TTL updates, KV) acting for NODE; what it registers is what
    /// `deploy` reads for NODE. Needs --consul-listen.
    #[arg(long, value_name = "NODE=ADDR", requires = "consul_listen", value_parser = parse_agent)]
    pub consul_agent: Vec<(String, SocketAddr)>,
    /// ACL tokens of the Consul stand-in, one a line: `POLICY TOKEN`, where POLICY names
    /// DIR/POLICY.hcl of --consul-policies (or is global-management). Every other token is
    /// refused ("ACL not found"); the default policy is deny. Keep the file private (chmod 600).
    #[arg(long, value_name = "FILE", requires = "consul_listen")]
    pub consul_tokens: Option<PathBuf>,
    /// Directory of Consul ACL policies (HCL rules, one POLICY.hcl each), e.g.
    /// templates/consul-policies.
    #[arg(long, value_name = "DIR", requires = "consul_tokens")]
    pub consul_policies: Option<PathBuf>,
}

/// `NODE=ADDR` of --consul-agent, on loopback only.
fn parse_agent(text: &str) -> Result<(String, SocketAddr), String> {
    let (node, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NODE=ADDR, e.g. node01=127.0.0.2:8500"))?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr:?}: not an address with a port ({e})"))?;
    if node.is_empty() || node.contains('/') {
        return Err(format!("{node:?}: expected a node name (no '/')"));
    }
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr}: the stand-in agent listens on loopback addresses only (127.0.0.0/8, ::1)"
        ));
    }
    Ok((node.to_string(), addr))
}

/// The Consul stand-in's tokens: the management token from the environment and the file's.
fn consul_tokens(args: &Args) -> crate::Result<crate::simulator::consul::AclTokens> {
    use crate::simulator::consul::{Access, AclTokens};
    let mut tokens = AclTokens::default();
    let management = std::env::var("I3S_SIM_CONSUL_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if let Some(token) = &management {
        tokens.add(token, Access::Management);
    }
    match &args.consul_tokens {
        Some(file) => tokens.load(file, args.consul_policies.as_deref())?,
        None if management.is_none() => {
            return Err(crate::Error::Usage(
                "--consul-listen: set I3S_SIM_CONSUL_TOKEN to the ACL token the stand-in accepts, or give --consul-tokens FILE".into(),
            ));
        }
        None => {}
    }
    Ok(tokens)
}

pub fn run(args: Args) -> crate::Result<ExitCode> {
    let faults = Faults::parse(&args.faults).map_err(crate::Error::Usage)?;
    // Read before anything starts: a bad token file changes nothing.
    let tokens = match args.consul_listen {
        Some(_) => Some(consul_tokens(&args)?),
        None => None,
    };
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
    let mut consul = match (args.consul_listen, tokens) {
        (Some(listen), Some(tokens)) => {
            let auto = crate::simulator::consul::AutoBoot {
                appliance: simulator.base_url.clone(),
                boot_reads: args.consul_boot_reads,
            };
            Some(crate::simulator::consul::ConsulStandIn::start_with(
                listen,
                tokens,
                Some(auto),
            )?)
        }
        _ => None,
    };
    let mut agents = Vec::new();
    if let Some(consul) = consul.as_mut() {
        for (node, listen) in &args.consul_agent {
            agents.push((node.clone(), consul.add_agent(*listen, node)?));
        }
    }
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
    for (node, url) in &agents {
        let _ = writeln!(out, "consul agent of node {node} listening on {url}");
    }
    let _ = out.flush();
    simulator.wait();
    drop(consul);
    Ok(ExitCode::SUCCESS)
}
