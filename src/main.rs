//! The `meshlogging-operator` binary.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Kubernetes operator for MeshLogging logging stacks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the MeshLogging CustomResourceDefinition as YAML.
    Crd,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd) | None => match meshlogging_operator::crd::yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
