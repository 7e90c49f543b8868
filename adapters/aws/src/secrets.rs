//! Database credentials from AWS Secrets Manager: the secret RDS keeps for an instance created
//! with `ManageMasterUserPassword`, so that no password is ever stored in configuration.

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;

use crate::AwsConfig;

/// A database user and password, as RDS stores them in its managed secret
/// (`{"username": "…", "password": "…"}`).
#[derive(Deserialize)]
pub struct DatabaseCredentials {
    /// The user.
    pub username: String,
    /// The password.
    pub password: SecretString,
}

impl std::fmt::Debug for DatabaseCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl DatabaseCredentials {
    /// Parses a secret's string value.
    ///
    /// # Errors
    /// When the value is not a JSON object with string `username` and `password` fields; the
    /// message never contains the value.
    pub fn parse(value: &str) -> anyhow::Result<Self> {
        serde_json::from_str(value).map_err(|e| {
            anyhow::anyhow!(
                "the secret is not a JSON object with `username` and `password` (line {}, column {})",
                e.line(),
                e.column()
            )
        })
    }
}

impl AwsConfig {
    /// A Secrets Manager client.
    #[must_use]
    pub fn secrets_client(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(self.sdk_config())
    }

    /// The current credentials in the secret `secret_id` (an ARN or a name).
    ///
    /// # Errors
    /// When the secret cannot be read (missing, no permission, throttled after the SDK's
    /// retries) or does not hold credentials.
    pub async fn database_credentials(
        &self,
        secret_id: &str,
    ) -> anyhow::Result<DatabaseCredentials> {
        let out = self
            .secrets_client()
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .with_context(|| format!("failed to read the database secret {secret_id}"))?;
        let value = out
            .secret_string()
            .with_context(|| format!("the database secret {secret_id} holds no string"))?;
        DatabaseCredentials::parse(value)
            .with_context(|| format!("the database secret {secret_id} is unusable"))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_rds_managed_secret_gives_user_and_password() {
        let c = DatabaseCredentials::parse(r#"{"username":"fashion","password":"p@ss\"word"}"#)
            .unwrap();
        assert_eq!(c.username, "fashion");
        assert_eq!(c.password.expose_secret(), "p@ss\"word");
        assert!(
            !format!("{c:?}").contains("p@ss"),
            "Debug hides the password"
        );
    }

    #[test]
    fn a_malformed_secret_is_refused_without_echoing_it() {
        let err = DatabaseCredentials::parse(r#"{"username":"fashion","pass":"hunter2"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("username"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
