//! Secrets never go into a scenario: it is copied into every results folder (manifest.json), into
//! command lines, folder names, CSV columns, plans and fleet files. A secret is recognised by its
//! name (a key, token, password ... with any suffix of digits) and by its value (the shapes API keys
//! and tokens take), wherever a value can be written: flags, flag lists, grid axes, env and URLs.

use super::diag::{Issue, Seg};
use super::schema::{FlagValue, Scenario};
use crate::kp;

const WORDS: &[&str] =
    &["key", "apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials", "auth", "pat", "passphrase", "bearer"];

/// A name is a secret by what it names, not by a substring: its last word (split at `_`, `-`, `.`,
/// trailing digits and all-digit words dropped) is a key, token, secret, password, auth or PAT
/// (`api_key`, `HF_TOKEN`, `OPENAI_API_KEY_2`, `API_KEY2`, `GITHUB_PAT`). Names that count or
/// configure tokens are not secrets: `max_num_batched_tokens`, `TOKENIZERS_PARALLELISM`.
pub fn looks_secret(name: &str) -> bool {
    let last = name.split(['_', '-', '.']).map(|w| w.trim_end_matches(|c: char| c.is_ascii_digit())).rfind(|w| !w.is_empty());
    last.is_some_and(|last| WORDS.iter().any(|w| last.eq_ignore_ascii_case(w)))
}

/// A value is a secret by its shape: a known key prefix (`sk-`, `hf_`, `ghp_`, `github_pat_`,
/// `xoxb-`, `AKIA`, `glpat-`, a JWT), a `Bearer` header, or a random-looking word: 20 or more
/// letters and digits (between `-`/`_`) that mix upper case, lower case and digits as random text does.
/// Model ids (`NousResearch-Hermes-2-Pro-Llama-3-8B`) and commit hashes (hexadecimal, one case) pass.
pub fn looks_secret_value(v: &str) -> bool {
    let v = v.trim();
    const PREFIXES: &[&str] =
        &["sk-", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "github_pat_", "xoxb-", "xoxp-", "xoxa-", "glpat-", "AKIA", "nvapi-"];
    let body = |p: &str| {
        v.len() >= p.len() + 12 && v.starts_with(p) && v[p.len()..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if PREFIXES.iter().any(|p| body(p)) || v.to_ascii_lowercase().starts_with("bearer ") {
        return true;
    }
    let jwt = v.starts_with("eyJ") && v.split('.').count() == 3 && v.len() > 40;
    // Random text switches between upper case, lower case and digits at ~60% of its characters;
    // words and CamelCase names (`Mistral7BInstructV02GPTQ`: 8 runs in 24) far less often.
    let class = |c: char| (c.is_ascii_digit() as u8) + 2 * (c.is_ascii_uppercase() as u8);
    let random = |w: &str| {
        let runs = 1 + w.as_bytes().windows(2).filter(|p| class(p[0] as char) != class(p[1] as char)).count();
        w.len() >= 20
            && w.chars().all(|c| c.is_ascii_alphanumeric())
            && w.chars().filter(char::is_ascii_digit).count() >= 2
            && w.chars().any(|c| c.is_ascii_uppercase())
            && w.chars().any(|c| c.is_ascii_lowercase())
            && runs * 20 >= w.len() * 9
    };
    jwt || (!v.contains(['/', '.', ' ']) && v.split(['-', '_']).any(random))
}

/// The secret-looking problems of a URL: credentials in its user part or a key-like query parameter.
pub fn url_secret(url: &str) -> Option<&'static str> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("carries a user name or password (`user:pass@`)");
    }
    if parsed.query_pairs().any(|(k, v)| looks_secret(&k) || looks_secret_value(&v)) {
        return Some("carries a key in its query");
    }
    None
}

/// Every value of a flag as text (a list's items one by one).
fn texts(v: &FlagValue) -> Vec<String> {
    match v {
        FlagValue::List(items) => items.iter().flat_map(texts).collect(),
        FlagValue::Str(s) => vec![s.clone()],
        _ => vec![],
    }
}

/// A value's problem, if it holds a secret: a key-like value, or a list that names a secret flag
/// (`["--api-key", "..."]`).
fn value_problem(v: &FlagValue) -> Option<String> {
    let t = texts(v);
    if t.iter().any(|x| looks_secret_value(x)) {
        return Some("looks like an API key or token".into());
    }
    t.iter()
        .find(|x| x.starts_with('-') && looks_secret(x.trim_start_matches('-').split('=').next().unwrap_or_default()))
        .map(|x| format!("passes `{x}`, a secret, on the command line"))
}

const FLAG_HELP: &str =
    "keep the key in an environment variable and name it with api_key_env = \"MY_KEY_VAR\" (the runner hands it to the engine through its environment)";
const ENV_HELP: &str = "export it in the runner's environment instead (engines inherit it), or use api_key_env for the API key";

fn push(out: &mut Vec<Issue>, path: Vec<Seg>, what: String, help: &str) {
    let why = if help == ENV_HELP {
        "scenario files are stored in every results folder"
    } else {
        "it would be visible in command lines and stored in every results folder"
    };
    out.push(Issue::new(path, format!("{what}; {why}")).help(help));
}

/// Every place a scenario could hold a secret.
pub fn check(s: &Scenario, out: &mut Vec<Issue>) {
    for (i, srv) in s.servers.iter().enumerate() {
        for (k, v) in &srv.flags {
            if looks_secret(k) {
                push(out, kp!["servers", i, "flags", k], format!("flag `{k}` looks like a secret"), FLAG_HELP);
            } else if let Some(p) = value_problem(v) {
                push(out, kp!["servers", i, "flags", k], format!("the value of flag `{k}` {p}"), FLAG_HELP);
            }
        }
        for (k, v) in &srv.env {
            if looks_secret(k) {
                push(out, kp!["servers", i, "env", k], format!("env `{k}` looks like a secret"), ENV_HELP);
            } else if looks_secret_value(v) {
                push(out, kp!["servers", i, "env", k], format!("the value of env `{k}` looks like an API key or token"), ENV_HELP);
            }
        }
        if let Some(problem) = srv.url.as_deref().and_then(url_secret) {
            out.push(
                Issue::new(
                    kp!["servers", i, "url"],
                    format!("url {problem}; it would be printed by plan and stored in every results folder"),
                )
                .help("give the endpoint without credentials and put the key in an environment variable named by api_key_env"),
            );
        }
    }
    for (k, values) in &s.grid.server {
        if looks_secret(k) {
            push(out, kp!["grid", "server", k], format!("grid axis `{k}` looks like a secret"), FLAG_HELP);
            continue;
        }
        for (j, v) in values.iter().enumerate() {
            if let Some(p) = value_problem(v) {
                push(out, kp!["grid", "server", k, j], format!("a value of grid axis `{k}` {p}"), FLAG_HELP);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_named_by_their_last_word() {
        for secret in [
            "api_key",
            "api-key",
            "HF_TOKEN",
            "OPENAI_API_KEY",
            "hf_token",
            "db-password",
            "client_secret",
            "key",
            "AUTH_TOKEN",
            "OPENAI_API_KEY_2",
            "API_KEY2",
            "HF_AUTH",
            "GITHUB_PAT",
            "hf_token_2",
        ] {
            assert!(looks_secret(secret), "{secret} is a secret");
        }
        for flag in [
            "max_num_batched_tokens",
            "max_tokens",
            "TOKENIZERS_PARALLELISM",
            "tokenizer",
            "keep_alive",
            "kv_cache_dtype",
            "ssl_keyfile",
            "num_lookahead_slots",
            "max_model_len",
            "gpu_memory_utilization",
        ] {
            assert!(!looks_secret(flag), "{flag} is not a secret");
        }
    }

    #[test]
    fn secrets_are_known_by_their_shape() {
        for v in [
            "sk-proj-abcdEFGH1234ijklMNOP5678",
            "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "ghp_0123456789abcdefABCDEF0123456789abcd",
            "github_pat_11ABCDEFG0123456789_abcdefghijkl",
            "AKIAIOSFODNN7EXAMPLE",
            "Bearer abc",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "Zx8Kq2LmP9vR4tY7wB1nC6dF3gH5",
        ] {
            assert!(looks_secret_value(v), "{v} is a secret");
        }
        for v in [
            "Qwen/Qwen2.5-1.5B-Instruct",
            "meta-llama/Meta-Llama-3-8B-Instruct",
            "0123456789abcdef0123456789abcdef01234567",
            "bfloat16",
            "fp8",
            "auto",
            "Qwen2.5-1.5B-Instruct-GPTQ-Int4-AWQ",
            "http://127.0.0.1:8000",
            "--enable-prefix-caching",
            "NousResearch-Hermes-2-Pro-Llama-3-8B",
            "TheBloke_Mistral7BInstructV02GPTQ",
        ] {
            assert!(!looks_secret_value(v), "{v} is not a secret");
        }
    }

    #[test]
    fn urls_with_credentials_are_found() {
        assert!(url_secret("https://user:pass@api.example.com/v1").is_some());
        assert!(url_secret("https://api.example.com/v1?api_key=abc").is_some());
        assert!(url_secret("http://127.0.0.1:8000").is_none());
    }
}
