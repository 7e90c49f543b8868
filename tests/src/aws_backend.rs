//! Which AWS backend the tests run against, as the test command chose it
//! (`FASHION_TEST_AWS_BACKEND`, see `scripts/lib/services.sh`): moto (the default), LocalStack,
//! or real AWS. Tests that need a particular backend fail, never skip, on another one.

/// The variable that picks the backend: `moto` (the default when unset), `localstack` or `aws`.
pub const BACKEND_VAR: &str = "FASHION_TEST_AWS_BACKEND";
/// The variable the test command sets to the emulator's URL (moto or LocalStack).
pub const ENDPOINT_VAR: &str = "FASHION_TEST_AWS_ENDPOINT";
/// Must be `1` for the tests to run against real AWS: they create (and delete) resources in the
/// account of the credentials they find, which costs money.
pub const REAL_AWS_OPT_IN_VAR: &str = "FASHION_TEST_AWS_I_UNDERSTAND_THIS_CREATES_RESOURCES";

/// The backend of the AWS tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsBackend {
    /// moto server on loopback (`scripts/lib/services.sh` `start_moto`).
    Moto,
    /// LocalStack in Docker, started through testcontainers (`start_localstack`).
    LocalStack,
    /// Real AWS: the standard credential chain and region, no endpoint.
    RealAws,
}

impl AwsBackend {
    /// The backend [`BACKEND_VAR`] names; panics (fails the test) on an unknown name.
    #[must_use]
    pub fn from_env() -> Self {
        let name = std::env::var(BACKEND_VAR).unwrap_or_default();
        match name.trim() {
            "" | "moto" => Self::Moto,
            "localstack" => Self::LocalStack,
            "aws" => Self::RealAws,
            other => panic!("{BACKEND_VAR}={other}: expected moto, localstack or aws"),
        }
    }

    /// The name [`BACKEND_VAR`] takes for this backend.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Moto => "moto",
            Self::LocalStack => "localstack",
            Self::RealAws => "aws",
        }
    }
}

/// The endpoint of the emulator (moto or LocalStack) the test command started. Panics (fails the
/// test) on real AWS, where only the contract suites run, and when no emulator was started;
/// `run_with` is the command that runs the calling tests with one.
#[must_use]
pub fn emulator_endpoint(run_with: &str) -> String {
    let backend = AwsBackend::from_env();
    assert!(
        backend != AwsBackend::RealAws,
        "{BACKEND_VAR}=aws: this test needs an AWS emulator (moto or LocalStack), it does not \
         run on real AWS. On real AWS only the AWS adapters' contract suites run \
         (`scripts/test-aws`); run this one with `{run_with}`."
    );
    match std::env::var(ENDPOINT_VAR) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: these tests need the AWS emulator that the test command \
             starts ({BACKEND_VAR}={}). Run them with `scripts/test`, or by hand with \
             `{run_with}`.",
            backend.name()
        ),
    }
}

/// Fails the test unless the backend is moto: `why` says which moto-only feature it uses.
pub fn require_moto(why: &str) {
    let backend = AwsBackend::from_env();
    assert!(
        backend == AwsBackend::Moto,
        "{BACKEND_VAR}={}: this test needs moto ({why}), so it fails on any other backend \
         rather than pass without checking anything. Run it on the default backend: \
         unset {BACKEND_VAR} or set it to moto.",
        backend.name()
    );
}

/// Fails the test unless real AWS was explicitly opted into ([`REAL_AWS_OPT_IN_VAR`]`=1`) and no
/// emulator endpoint is set that would make "real AWS" something else.
pub fn require_real_aws_opt_in() {
    assert!(
        std::env::var(REAL_AWS_OPT_IN_VAR).is_ok_and(|v| v.trim() == "1"),
        "{BACKEND_VAR}=aws runs the tests against real AWS, creating and deleting resources in \
         the account of your credentials: set {REAL_AWS_OPT_IN_VAR}=1 to go ahead."
    );
    assert!(
        !std::env::var(ENDPOINT_VAR).is_ok_and(|v| !v.trim().is_empty()),
        "{BACKEND_VAR}=aws but {ENDPOINT_VAR} is set: unset it to run against real AWS, or pick \
         the emulator's backend (moto or localstack)."
    );
}
