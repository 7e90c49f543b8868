//! The shop's HTTP API: its function (collector, recommendations, dashboard), a policy naming
//! exactly the calls its adapters make, and its public URL.

use fashion_aws_core::vars;

use super::common::{
    DEAD_LETTERS_TIME_INDEX, glue_arn, lake_arn, lake_objects, stream_arn, table_arn, table_name,
};
use super::functions::{function, lake_env, models_env, var};
use super::identity::{execution_role, logs, role_policy};
use crate::engine::desired::Builder;
use crate::layout::{names, prefixes};
use crate::providers::aws::function_url::{
    self, AUTH_NONE, CorsProps, FunctionUrlProps, public_url_permissions,
};
use crate::providers::aws::iam::allow;
use crate::providers::aws::{OUT_ARN, OUT_NAME, athena, kinesis, lambda};

/// The API's role, policy, function and URL.
pub fn declare(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    execution_role(
        b,
        names::API,
        "Serves the shop's HTTP API behind a function URL",
    );
    let statements = statements(b);
    role_policy(b, names::API, &statements);
    let env = env(b);
    function(b, names::API, &cfg.functions.api, env, None);
    url(b);
}

fn env(b: &Builder<'_>) -> Vec<(String, String)> {
    let mut env = lake_env(b);
    env.extend(models_env(b));
    env.extend([
        var(
            vars::CLICKSTREAM_STREAM,
            b.out(kinesis::KIND, names::CLICKSTREAM, OUT_NAME),
        ),
        var(
            vars::RECOMMENDATIONS_TABLE,
            table_name(b, names::RECOMMENDATIONS),
        ),
        var(vars::CATALOG_TABLE, table_name(b, names::PRODUCTS)),
        var(vars::ACTIVITY_TABLE, table_name(b, names::USER_ACTIVITY)),
        var(vars::DEAD_LETTERS_TABLE, table_name(b, names::DEAD_LETTERS)),
        var(
            vars::ATHENA_WORKGROUP,
            b.out(athena::KIND, names::ANALYTICS, OUT_NAME),
        ),
    ]);
    env
}

/// Exactly the calls of the adapters `fashion_lambda::api::router` builds (fashion-aws), on
/// exact ARNs.
fn statements(b: &Builder<'_>) -> Vec<serde_json::Value> {
    let cfg = b.cfg;
    let database = cfg.glue_database();
    vec![
        // The collector (`PutRecords`, failed records sent again the same way).
        allow("PublishClicks", &["kinesis:PutRecords"], &[stream_arn(b)]),
        // `get` of the recommendation store.
        allow(
            "ReadRecommendations",
            &["dynamodb:GetItem"],
            &[table_arn(b, names::RECOMMENDATIONS)],
        ),
        // `get_many` of the activity store: what a customer bought stays out of their fallback.
        allow(
            "ReadPurchases",
            &["dynamodb:BatchGetItem"],
            &[table_arn(b, names::USER_ACTIVITY)],
        ),
        // `get_many` (BatchGetItem) and `list` (Scan) of the product catalog.
        allow(
            "ReadCatalog",
            &["dynamodb:BatchGetItem", "dynamodb:Scan"],
            &[table_arn(b, names::PRODUCTS)],
        ),
        // Refused events are set aside (`put_many`: one conditional PutItem each) and listed
        // oldest first through the time index (`list`: Query).
        allow(
            "SetAsideRefusedEvents",
            &["dynamodb:PutItem"],
            &[table_arn(b, names::DEAD_LETTERS)],
        ),
        allow(
            "ListDeadLetters",
            &["dynamodb:Query"],
            &[format!(
                "{}/index/{DEAD_LETTERS_TIME_INDEX}",
                table_arn(b, names::DEAD_LETTERS)
            )],
        ),
        // Models and the lake's tables, read only (also what Athena reads for the API).
        allow(
            "ReadModelsAndLake",
            &["s3:GetObject"],
            &[
                lake_objects(b, prefixes::MODELS),
                lake_objects(b, &cfg.lake.prefix),
            ],
        ),
        // Listing partitions' files; S3 answers a missing model key with 404 (not 403) only to
        // callers that may list the bucket. Athena also needs the bucket's location and its
        // multipart uploads for the results it writes.
        allow(
            "LakeBucket",
            &[
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:ListBucketMultipartUploads",
            ],
            &[lake_arn(b)],
        ),
        // Athena writes and reads query results in the workgroup's output location with the
        // caller's permissions.
        allow(
            "AthenaResults",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            &[lake_objects(b, prefixes::ATHENA_RESULTS)],
        ),
        // Partitions for the history reader; table definitions for it and for Athena.
        allow(
            "ReadLakeCatalog",
            &["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            &[
                glue_arn(cfg, "catalog"),
                glue_arn(cfg, &format!("database/{database}")),
                glue_arn(cfg, &format!("table/{database}/*")),
            ],
        ),
        // The dashboard's SQL; a query past its deadline is stopped.
        allow(
            "QueryLake",
            &[
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
            ],
            &[b.out(athena::KIND, names::ANALYTICS, OUT_ARN)],
        ),
        logs(b, &cfg.physical(names::API)),
    ]
}

/// The public URL, with the CORS settings a browser on the shop's pages needs.
fn url(b: &mut Builder<'_>) {
    let function = b.cfg.physical(names::API);
    let after = [b.id(lambda::FUNCTION_KIND, names::API)];
    b.add(
        function_url::KIND,
        names::API,
        function.clone(),
        &FunctionUrlProps {
            function_name: function,
            auth_type: AUTH_NONE.into(),
            invoke_mode: "BUFFERED".into(),
            cors: Some(
                CorsProps {
                    allow_origins: vec!["*".into()],
                    allow_methods: vec!["GET".into(), "POST".into()],
                    allow_headers: vec!["content-type".into(), "content-encoding".into()],
                    expose_headers: vec!["retry-after".into()],
                    max_age_secs: 600,
                    allow_credentials: false,
                }
                .normalized(),
            ),
            permissions: public_url_permissions(),
        },
        &after,
    );
}
