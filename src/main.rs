//! The `corong` binary: argument parsing and wiring live in the library
//! (`corong::cli`); this file only hands over.

fn main() -> std::process::ExitCode {
    corong::cli::main()
}
