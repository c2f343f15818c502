pub fn run(_o: &crate::cli::Opts) -> Result<i32, String> {
    Err("restore: not yet".into())
}
