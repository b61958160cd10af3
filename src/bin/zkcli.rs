//! `zkcli`: the zkCli.sh-compatible shell (see `zabkeeper::shell`).

fn main() {
    let code = zabkeeper::zkcli::main(std::env::args().skip(1).collect());
    std::process::exit(code);
}
