//! The network: which subnets and security groups the daily job and the orders database sit
//! in (none: the default VPC's public endpoints), and the one statement a function in a VPC
//! needs.

use super::common::VPC_NETWORK_INTERFACES_SID;
use crate::config::StackConfig;
use crate::providers::aws::iam::allow;
use crate::providers::aws::lambda::VpcProps;

/// Whether functions that reach the database run inside the VPC.
pub fn vpc_access(cfg: &StackConfig) -> bool {
    !cfg.network.subnet_ids.is_empty()
}

/// The VPC settings of a function that reaches the database, when the stack has subnets.
pub fn function_vpc(cfg: &StackConfig) -> Option<VpcProps> {
    vpc_access(cfg).then(|| VpcProps {
        subnet_ids: sorted(&cfg.network.subnet_ids),
        security_group_ids: sorted(&cfg.network.security_group_ids),
    })
}

/// The database's security groups, if any.
pub fn database_security_groups(cfg: &StackConfig) -> Option<Vec<String>> {
    let groups = sorted(&cfg.network.security_group_ids);
    (!groups.is_empty()).then_some(groups)
}

/// The database's subnet group, if any.
pub fn database_subnet_group(cfg: &StackConfig) -> Option<String> {
    (!cfg.network.db_subnet_group.is_empty()).then(|| cfg.network.db_subnet_group.clone())
}

/// The one documented `Resource: "*"`: Lambda creates network interfaces in the VPC's subnets;
/// EC2 does not scope these actions to resources, which is why AWS's own managed policy
/// (AWSLambdaVPCAccessExecutionRole) uses "*" here. Tests allow it only here.
pub fn network_interfaces_statement() -> serde_json::Value {
    allow(
        VPC_NETWORK_INTERFACES_SID,
        &[
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ],
        &["*".to_owned()],
    )
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}
