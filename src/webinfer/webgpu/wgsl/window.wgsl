// The sliding window of a CONV or POOL step (with conv.wgsl, conv_direct.wgsl, pool.wgsl): an
// H x W input plane, an OH x OW output plane, a KH x KW kernel, its strides, dilations and the
// top and left pads.
const H = {{H}};
const W = {{W}};
const OH = {{OH}};
const OW = {{OW}};
const KH = {{KH}};
const KW = {{KW}};
const SH = {{SH}};
const SW = {{SW}};
const DH = {{DH}};
const DW = {{DW}};
const PT = {{PT}};
const PL = {{PL}};
