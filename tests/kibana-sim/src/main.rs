//! `kibana-sim` binary: runs the stand-in until Ctrl-C.
//!
//! `cargo run -p kibana-sim -- [--port 5601] [--version 8.15.3]`

use kibana_sim::KibanaSim;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut port, mut version) = (5601u16, "8.15.3".to_string());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--port", Some(p)) => match p.parse() {
                Ok(p) => port = p,
                Err(e) => {
                    eprintln!("--port: {e}");
                    std::process::exit(2);
                }
            },
            ("--version", Some(v)) => version = v.clone(),
            _ => {
                eprintln!("usage: kibana-sim [--port N] [--version X.Y.Z]");
                std::process::exit(2);
            }
        }
    }
    let sim = match KibanaSim::start_on(port, &version).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kibana-sim: {e}");
            std::process::exit(1);
        }
    };
    println!("kibana-sim listening on {}", sim.url());
    let _ = tokio::signal::ctrl_c().await;
    sim.stop().await;
}
