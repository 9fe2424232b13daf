//! AMF3 codec (to be written).
