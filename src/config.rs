//! Configuration: a TOML file and `WIRESPAN_*` environment variables under the command line.
//!
//! Takes the command line's definition (clap), the file named by `--config FILE` (or
//! `WIRESPAN_CONFIG`) and the environment; gives the command line back with the file's values
//! as defaults and every option readable from `WIRESPAN_<OPTION>`, so that a flag beats the
//! environment, which beats the file, which beats the built-in default. The file has one
//! table per command (`[capture]`, `[replay]`, `[receive]`, `[show]`) whose keys are the long
//! option names; a key no command knows is an error that names it.

use clap::Command;
use std::fmt::Write as _;

/// The environment variable of an option: `WIRESPAN_` and its long name in capitals.
pub fn env_name(arg: &clap::Arg) -> String {
    let name = arg.get_long().unwrap_or(arg.get_id().as_str());
    format!("WIRESPAN_{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// The key of an option in the file: its long name (positional arguments: their id).
fn key_of(arg: &clap::Arg) -> String {
    arg.get_long()
        .unwrap_or(arg.get_id().as_str())
        .replace('_', "-")
}

/// Options that are not settings: help, version and the config file itself.
fn is_setting(arg: &clap::Arg) -> bool {
    !matches!(arg.get_id().as_str(), "help" | "version" | "config")
}

/// A TOML value as the strings clap would have read from the command line.
fn as_args(key: &str, value: &toml::Value) -> Result<Vec<String>, String> {
    Ok(match value {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(i) => vec![i.to_string()],
        toml::Value::Float(f) => vec![f.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    toml::Value::Array(_) | toml::Value::Table(_) => {
                        return Err(format!("'{key}': a list of plain values is expected"))
                    }
                    v => out.extend(as_args(key, v)?),
                }
            }
            out
        }
        toml::Value::Datetime(d) => vec![d.to_string()],
        toml::Value::Table(_) => return Err(format!("'{key}': a value is expected, not a table")),
    })
}

/// Every option of every command readable from its environment variable.
pub fn with_env(cmd: Command) -> Command {
    cmd.mut_subcommands(|sub| {
        let named: Vec<(String, String)> = sub
            .get_arguments()
            .filter(|a| is_setting(a) && !a.is_positional())
            .map(|a| (a.get_id().to_string(), env_name(a)))
            .collect();
        named
            .into_iter()
            .fold(sub, |sub, (id, env)| sub.mut_arg(id, |a| a.env(env)))
    })
}

/// The commands' options with the values of the TOML `text` (from `file`) as defaults.
pub fn with_file(mut cmd: Command, file: &str, text: &str) -> Result<Command, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("config {file}: {e}"))?;
    for (section, values) in table {
        let Some(sub) = cmd.find_subcommand(&section) else {
            return Err(format!(
                "config {file}: unknown section [{section}] (there are {})",
                cmd.get_subcommands()
                    .map(|s| format!("[{}]", s.get_name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let toml::Value::Table(values) = values else {
            return Err(format!("config {file}: '{section}' must be a table"));
        };
        let known: Vec<(String, String)> = sub
            .get_arguments()
            .filter(|a| is_setting(a))
            .map(|a| (key_of(a), a.get_id().to_string()))
            .collect();
        for (key, value) in values {
            let wanted = key.replace('_', "-");
            let Some(id) = known
                .iter()
                .find(|(k, _)| *k == wanted)
                .map(|(_, id)| id.clone())
            else {
                return Err(format!("config {file}: unknown key '{section}.{key}'"));
            };
            let args = as_args(&format!("{section}.{key}"), &value)
                .map_err(|e| format!("config {file}: {e}"))?;
            // A required option given in the file is given.
            cmd = cmd.mut_subcommand(&section, |sub| {
                sub.mut_arg(&id, |a| a.default_values(args).required(false))
            });
        }
    }
    Ok(cmd)
}

/// The path given with `--config PATH` or `--config=PATH` anywhere in `args`, else
/// `WIRESPAN_CONFIG`.
pub fn config_path(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(path) = a.strip_prefix("--config=") {
            return Some(path.to_owned());
        }
    }
    std::env::var("WIRESPAN_CONFIG").ok()
}

/// A config file with every option of every command, commented out at its default, each
/// under its help text and environment variable.
pub fn default_file(cmd: &Command) -> String {
    let mut out = String::from(
        "# wirespan configuration: one table per command, keys are the long option names.\n\
         # Precedence: command-line flag > WIRESPAN_<OPTION> environment variable > this file\n\
         # > built-in default. Uncomment what you change.\n",
    );
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "config") {
        let _ = write!(out, "\n[{}]\n", sub.get_name());
        for arg in sub.get_arguments().filter(|a| is_setting(a)) {
            let key = key_of(arg);
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let _ = writeln!(out, "\n# {help}");
            if !arg.is_positional() {
                let _ = writeln!(out, "# (environment: {})", env_name(arg));
            }
            // With no default, a placeholder to fill in.
            let placeholder = format!(
                "\"<{}>\"",
                arg.get_value_names()
                    .and_then(|v| v.first())
                    .map_or_else(|| key.to_ascii_uppercase(), |v| v.to_string())
            );
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let takes_many = matches!(arg.get_action(), clap::ArgAction::Append)
                || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
            let flag = matches!(arg.get_action(), clap::ArgAction::SetTrue);
            let value = if flag {
                "false".to_owned()
            } else if takes_many {
                let items: Vec<String> = defaults.iter().map(|d| quote(d)).collect();
                if items.is_empty() {
                    format!("[{placeholder}]")
                } else {
                    format!("[{}]", items.join(", "))
                }
            } else {
                defaults.first().map_or(placeholder, |d| quote(d))
            };
            let _ = writeln!(out, "# {key} = {value}");
        }
    }
    out
}

/// A default as TOML: numbers and booleans bare, anything else a string.
fn quote(value: &str) -> String {
    if value.parse::<f64>().is_ok() || value == "true" || value == "false" {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}
