//! The `crest` command.

fn main() {
    std::process::exit(crest::cli::main());
}
