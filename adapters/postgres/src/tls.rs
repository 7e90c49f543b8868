//! Connection options and how they authenticate the server: as the URL says (local and test
//! servers, which have no TLS), or `verify-full` against a CA bundle (RDS on AWS: the server's
//! certificate must chain to the bundle and name the host connected to).

use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// How a connection authenticates the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTls<'a> {
    /// Whatever the URL's `sslmode` says (sqlx's default, `prefer`, when it says nothing):
    /// for local and test servers.
    AsUrlSays,
    /// TLS required, the certificate verified against the PEM bundle at this path and its name
    /// checked against the host (`sslmode=verify-full`): for RDS, with its global CA bundle.
    VerifyFull {
        /// The CA bundle (PEM).
        ca_bundle: &'a Path,
    },
}

/// The options to connect to `url`, as `credentials` (user, password) when given (kept out of
/// the URL, for example read from a secrets store), authenticating the server as `tls` says.
/// `VerifyFull` overrides any weaker `sslmode` the URL carries.
///
/// # Errors
/// When the URL is invalid, or the CA bundle of `VerifyFull` is not a readable file (checked
/// here, so a missing bundle is named before any connection attempt).
pub fn connect_options(
    url: &str,
    credentials: Option<(&str, &str)>,
    tls: ServerTls<'_>,
) -> anyhow::Result<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
    if let Some((user, password)) = credentials {
        options = options.username(user).password(password);
    }
    if let ServerTls::VerifyFull { ca_bundle } = tls {
        anyhow::ensure!(
            ca_bundle.is_file(),
            "the database's CA bundle {} is not a readable file",
            ca_bundle.display()
        );
        options = options
            .ssl_mode(PgSslMode::VerifyFull)
            .ssl_root_cert(ca_bundle);
    }
    Ok(options)
}

/// Whether options verify the server's certificate and host name (`sslmode=verify-full`).
#[must_use]
pub fn verifies_server(options: &PgConnectOptions) -> bool {
    matches!(options.get_ssl_mode(), PgSslMode::VerifyFull)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://fashion@orders.abc.eu-west-1.rds.amazonaws.com:5432/fashion";

    #[test]
    fn verify_full_overrides_the_url_and_keeps_the_secret_credentials() {
        // Arrange
        let bundle = std::env::temp_dir().join(format!("ca-bundle-{}.pem", std::process::id()));
        std::fs::write(&bundle, "not parsed until a connection is made").unwrap();
        let url = format!("{URL}?sslmode=disable");
        // Act
        let options = connect_options(
            &url,
            Some(("admin", "s3cret")),
            ServerTls::VerifyFull { ca_bundle: &bundle },
        )
        .unwrap();
        // Assert
        assert!(verifies_server(&options));
        assert_eq!(options.get_username(), "admin");
        assert_eq!(options.get_host(), "orders.abc.eu-west-1.rds.amazonaws.com");
        std::fs::remove_file(&bundle).unwrap();
    }

    #[test]
    fn a_missing_ca_bundle_is_refused_before_connecting() {
        let err = connect_options(
            URL,
            None,
            ServerTls::VerifyFull {
                ca_bundle: Path::new("/nonexistent/rds-global-bundle.pem"),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/rds-global-bundle.pem"), "{err}");
    }

    #[test]
    fn local_connections_keep_what_the_url_says() {
        let options = connect_options(URL, None, ServerTls::AsUrlSays).unwrap();
        assert!(!verifies_server(&options));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::Prefer));
        let disabled = connect_options(
            &format!("{URL}?sslmode=disable"),
            None,
            ServerTls::AsUrlSays,
        )
        .unwrap();
        assert!(matches!(disabled.get_ssl_mode(), PgSslMode::Disable));
    }
}
