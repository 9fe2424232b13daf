//! RTMP messages (to be written).

pub mod shared_object;
