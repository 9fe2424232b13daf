//! The RTMP SharedObject client on tokio: connect to a server, use remote
//! SharedObjects, call server methods and answer the server's calls (see
//! [`adapter_core::client`] for how it works).
//!
//! ```no_run
//! use adapter_tokio::client::{Client, ClientOptions};
//! use rtmp_proto::Value;
//!
//! # async fn demo() -> Result<(), adapter_tokio::client::ClientError> {
//! let client = Client::connect("rtmp://127.0.0.1/chat/room1", ClientOptions::default()).await?;
//! let so = client.shared_object("messages", false).await?;
//! println!("version {}: {:?}", so.version(), so.snapshot());
//!
//! let mut events = so.events(); // a tokio broadcast receiver
//! so.set("topic", "hello").await?; // resolves once the server confirms it
//! so.send("newMessage", vec![Value::from("hi all")]).await?;
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//!
//! let answer = client.call("echo", vec![Value::from(42.0)]).await?;
//! assert_eq!(answer, [Value::from(42.0)]);
//! client.close().await;
//! # Ok(())
//! # }
//! ```

pub use adapter_core::client::{ClientError, ClientOptions, RemoteEvent};

use crate::Tokio;

/// A connection to an RTMP server, on tokio.
pub type Client = adapter_core::client::Client<Tokio>;

/// A remote SharedObject in use; its events come as a
/// `tokio::sync::broadcast::Receiver`.
pub type SharedObject = adapter_core::client::SharedObject<Tokio>;

/// A method the server called on this client; they come through a
/// `tokio::sync::mpsc::Receiver` ([`Client::incoming_calls`]).
pub type IncomingCall = adapter_core::client::IncomingCall<Tokio>;
