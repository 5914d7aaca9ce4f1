//! `corong completions SHELL` and `corong manpage`: made from the same clap
//! definition as the parser ([`super::command`]), so they cannot drift from
//! what `corong` accepts. Both print to stdout; docs/deployment.md says
//! where to install them.

use std::io::Write;
use std::process::ExitCode;

use clap_mangen::Man;

/// The shells `corong completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `corong completions SHELL`.
pub fn completions(shell: Shell) -> ExitCode {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: clap_complete panics on a write error, and a
    // closed pipe (`| head`) deserves one line, not a panic.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut super::command(), "corong", &mut script);
    print(&script)
}

/// `corong manpage`: corong(1), one page with every command's synopsis and
/// options (clap_mangen alone makes a page per command, and a kiosk's
/// operator looks for one `man corong`).
pub fn manpage() -> ExitCode {
    match render_manpage() {
        Ok(page) => print(page.as_bytes()),
        Err(e) => {
            eprintln!("corong: manpage: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The whole page as roff text.
pub fn render_manpage() -> std::io::Result<String> {
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    let mut page = Vec::new();
    Man::new(cmd.clone()).render(&mut page)?;
    let page = String::from_utf8_lossy(&page);
    // `.TH` first, as man pages begin (and as `man` and lintian expect);
    // clap_mangen's string definitions for quotes go after it, still before
    // any text that uses them.
    let (preamble, rest) = page.split_at(page.find(".TH ").unwrap_or(0));
    let preamble = preamble.to_string();
    let mut page = match rest.split_once('\n') {
        Some((th, body)) => format!("{th}\n{preamble}{body}"),
        None => page.to_string(),
    };
    // The list of commands points at pages of their own (corong-daemon(1)),
    // which this one page replaces: name the section instead.
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        page = page.replace(
            &format!("corong\\-{name}(1)"),
            &format!("\\fBcorong {name}\\fR"),
        );
    }
    page = page.replacen(".SH EXTRA\n", ".SH \"SEE ALSO\"\n", 1);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = Man::new(sub.clone());
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part)?;
        man.render_description_section(&mut part)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut part)?;
        }
        // The sections of one command become a section of the page named
        // after it, with its options as a subsection.
        // Each part repeats the quote definitions: the page has them once.
        let part = String::from_utf8_lossy(&part)
            .replace(&preamble, "")
            .replacen(
                ".SH SYNOPSIS\n",
                &format!(".SH \"CORONG {}\"\n", sub.get_name().to_uppercase()),
                1,
            )
            .replacen(".SH DESCRIPTION\n", ".PP\n", 1)
            .replacen(".SH OPTIONS\n", ".SS Options\n", 1);
        page.push_str(&part);
    }
    Ok(page)
}

fn print(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corong: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
