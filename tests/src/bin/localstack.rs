//! LocalStack in Docker for the `localstack` AWS test backend
//! (`FASHION_TEST_AWS_BACKEND=localstack`, started by `start_localstack` in
//! `scripts/lib/services.sh`): starts the container through testcontainers, prints its endpoint URL
//! as one line on stdout once LocalStack is ready, then keeps it until SIGTERM or SIGINT (or until
//! its parent process dies) and removes it.
//!
//! Without a Docker engine it exits with status 1 and says "LocalStack needs a Docker engine" on
//! stderr.
//!
//! Environment: `FASHION_LOCALSTACK_TAG` overrides the image tag; `LOCALSTACK_AUTH_TOKEN` is
//! passed to the container when set (newer images, and Glue and Athena, need an account).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use testcontainers::core::client::docker_client_instance;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::signal::unix::{SignalKind, signal};

/// The image.
const IMAGE: &str = "localstack/localstack";
/// The pinned tag: 4.14.0 is the last release that starts without a LocalStack account; from
/// 2026.03 on the image needs `LOCALSTACK_AUTH_TOKEN`.
const DEFAULT_TAG: &str = "4.14.0";
/// Overrides [`DEFAULT_TAG`].
const TAG_VAR: &str = "FASHION_LOCALSTACK_TAG";
/// LocalStack's account token, passed through when set.
const AUTH_TOKEN_VAR: &str = "LOCALSTACK_AUTH_TOKEN";
/// LocalStack's single port for every service.
const EDGE_PORT: u16 = 4566;
/// The services the tests and the emulator stack use (Glue and Athena need an account).
const SERVICES: &str = "s3,kinesis,dynamodb,glue,athena,firehose,sts,iam,lambda,events,scheduler";
/// What LocalStack prints on stdout once it accepts requests.
const READY_LINE: &str = "Ready.";
/// Longest wait for the line, after the image is pulled: LocalStack takes 5–30 s to start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
/// How often to check whether the parent process is still there.
const PARENT_POLL: Duration = Duration::from_secs(1);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    // Handlers first: a signal that comes while the container starts must not kill the process
    // before it can remove the container.
    let mut term = signal(SignalKind::terminate()).context("failed to handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("failed to handle SIGINT")?;
    let parent = std::os::unix::process::parent_id();

    let tag = std::env::var(TAG_VAR).unwrap_or_else(|_| DEFAULT_TAG.to_owned());
    let mut request = GenericImage::new(IMAGE.to_owned(), tag.clone())
        .with_exposed_port(EDGE_PORT.tcp())
        .with_wait_for(WaitFor::message_on_stdout(READY_LINE))
        .with_env_var("SERVICES", SERVICES)
        .with_label("fashion-pipeline", "localstack-test-backend")
        .with_startup_timeout(STARTUP_TIMEOUT);
    if let Ok(token) = std::env::var(AUTH_TOKEN_VAR) {
        request = request.with_env_var(AUTH_TOKEN_VAR, token);
    }

    let start = async {
        require_docker().await?;
        request
            .start()
            .await
            .with_context(|| format!("failed to start {IMAGE}:{tag}"))
    };
    let container = tokio::select! {
        started = start => started?,
        _ = term.recv() => bail!("stopped while LocalStack was starting"),
        _ = int.recv() => bail!("interrupted while LocalStack was starting"),
    };

    let outcome = serve(&container, &mut term, &mut int, parent).await;
    let removed = container
        .rm()
        .await
        .context("failed to remove the LocalStack container");
    outcome.and(removed)
}

/// Prints the endpoint, then waits for a signal or for the parent to go away.
async fn serve(
    container: &ContainerAsync<GenericImage>,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
    parent: u32,
) -> anyhow::Result<()> {
    let port = container
        .get_host_port_ipv4(EDGE_PORT.tcp())
        .await
        .context("LocalStack's port is not mapped")?;
    let host = container
        .get_host()
        .await
        .context("failed to find the Docker host")?
        .to_string();
    // `localhost` may resolve to ::1 first, where Docker does not listen.
    let host = if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    // The one line on stdout the caller reads (`println!` flushes at the newline).
    println!("http://{host}:{port}");

    // A parent killed without cleaning up must not leave the container running forever.
    let orphaned = async {
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(PARENT_POLL).await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = orphaned => eprintln!("The parent process is gone: removing LocalStack."),
    }
    Ok(())
}

/// Fails with "LocalStack needs a Docker engine" unless the Docker engine testcontainers would use
/// (`DOCKER_HOST`, `~/.testcontainers.properties`, or the usual sockets) answers a ping.
async fn require_docker() -> anyhow::Result<()> {
    const HINT: &str = "Start Docker or set DOCKER_HOST; without Docker, run the AWS tests on \
                        moto, the default backend (unset FASHION_TEST_AWS_BACKEND).";
    let docker = docker_client_instance()
        .await
        .map_err(|e| anyhow!("LocalStack needs a Docker engine: {e}. {HINT}"))?;
    docker
        .ping()
        .await
        .map_err(|e| anyhow!("LocalStack needs a Docker engine: none answers: {e}. {HINT}"))?;
    Ok(())
}
