//! AMF0 codec (to be written).
