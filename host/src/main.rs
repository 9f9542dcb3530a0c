//! The `cyclades` binary: everything lives in the library; see `cyclades::cli`.

fn main() -> std::process::ExitCode {
    cyclades::cli::main()
}
