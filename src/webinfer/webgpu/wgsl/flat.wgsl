// One thread per element (Target.per_element): the kernel's element(i) for each i < ELEMENTS, over
// a grid of up to 65535 x 65535 workgroups of WG threads.
const WG = {{WG}};
const ELEMENTS = {{ELEMENTS}};

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < ELEMENTS) {
        element(i);
    }
}
