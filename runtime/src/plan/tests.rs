use super::*;

#[test]
fn dump() {
    let text = crate::template::default_spec(false);
    let spec: Spec = serde_json::from_str(&text).expect("spec");
    crate::spec::validate(&spec, true, true).expect("valid");
    let plan = Plan::build(
        &spec,
        &PlanInput {
            id: "t",
            bundle: Path::new("/nonexistent-b"),
            rootfs: Path::new("/nonexistent-b/rootfs"),
            fifo: Path::new("/nonexistent-s/exec.fifo"),
            cgroups: None,
            no_pivot: true,
            no_new_keyring: false,
            preserve_fds: 0,
            listen_fds: 0,
            trace: false,
        },
    )
    .expect("plan");
    println!("{plan:#?}");
}
