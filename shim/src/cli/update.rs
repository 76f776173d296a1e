//! `update`'s flags, as runc 1.1 names them: one per resource, each a string parsed by the
//! verb so that a bad number is reported with its flag name.
use clap::Args;

/// `update` flags, as runc 1.1 names them.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,

    /// path to the file containing the resources to update or '-' to read from the standard input
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<String>,

    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight", value_name = "N")]
    pub blkio_weight: Option<String>,

    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period", value_name = "N")]
    pub cpu_period: Option<String>,

    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", value_name = "N", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,

    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", visible_alias = "cpu-shares", value_name = "N")]
    pub cpu_share: Option<String>,

    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-rt-period", value_name = "N")]
    pub cpu_rt_period: Option<String>,

    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-rt-runtime", value_name = "N", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,

    /// CPU(s) to use
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,

    /// Memory node(s) to use
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,

    /// Memory limit (in bytes; k, m, g suffixes accepted)
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory: Option<String>,

    /// Memory reservation or soft_limit (in bytes)
    #[arg(
        long = "memory-reservation",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    pub memory_reservation: Option<String>,

    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,

    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,

    /// The string of Intel RDT/CAT L3 cache schema (not supported)
    #[arg(long = "l3-cache-schema", value_name = "SCHEMA")]
    pub l3_cache_schema: Option<String>,

    /// The string of Intel RDT/MBA memory bandwidth schema (not supported)
    #[arg(long = "mem-bw-schema", value_name = "SCHEMA")]
    pub mem_bw_schema: Option<String>,
}
