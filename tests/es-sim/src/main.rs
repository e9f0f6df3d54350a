//! `es-sim` binary: runs the stand-in on a fixed port until Ctrl-C.
//!
//! `cargo run -p es-sim -- --port 9200 [--tls] [--user elastic:password[:role,role]]
//!  [--version 9.1.0] [--path-repo /tmp/repo] [--keystore s3.client.default.access_key] [--nodes 3]
//!  [--integ-test-modules]`

use es_sim::{EsSim, Modules, SimConfig, SimUser};

fn usage() -> String {
    "usage: es-sim [--port N] [--tls] [--user NAME:PASSWORD[:ROLE,...]]... [--version X.Y.Z] \
     [--path-repo DIR]... [--keystore SETTING]... [--nodes N] [--ca-out FILE] [--integ-test-modules]"
        .to_string()
}

fn parse_args(args: &[String]) -> Result<(SimConfig, Option<String>), String> {
    let mut cfg = SimConfig {
        port: 9200,
        ..SimConfig::default()
    };
    let mut ca_out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--port" => {
                cfg.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--tls" => cfg.tls = true,
            "--version" => cfg.version = value("--version")?,
            "--path-repo" => cfg.path_repo.push(value("--path-repo")?),
            "--keystore" => cfg.keystore.push(value("--keystore")?),
            "--nodes" => {
                cfg.nodes = value("--nodes")?
                    .parse()
                    .map_err(|e| format!("--nodes: {e}"))?
            }
            "--ca-out" => ca_out = Some(value("--ca-out")?),
            "--integ-test-modules" => cfg.modules = Modules::INTEG_TEST_DISTRIBUTION,
            "--user" => {
                let v = value("--user")?;
                let mut parts = v.splitn(3, ':');
                let name = parts.next().unwrap_or_default();
                let pass = parts
                    .next()
                    .ok_or_else(|| format!("--user {v}: expected NAME:PASSWORD"))?;
                let roles: Vec<&str> = match parts.next() {
                    Some(r) => r.split(',').collect(),
                    None if name == "elastic" => vec!["superuser"],
                    None => vec!["superuser"],
                };
                cfg.users.push(SimUser::new(name, pass, &roles));
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok((cfg, ca_out))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cfg, ca_out) = match parse_args(&args) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let sim = match EsSim::try_start_with(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("es-sim: {e}");
            std::process::exit(1);
        }
    };
    if let (Some(path), Some(pem)) = (ca_out, sim.ca_pem())
        && let Err(e) = std::fs::write(&path, pem)
    {
        eprintln!("es-sim: cannot write CA to {path}: {e}");
    }
    println!("es-sim listening on {}", sim.url());
    tracing::info!(url = %sim.url(), "es-sim started");
    let _ = tokio::signal::ctrl_c().await;
    sim.stop().await;
}
