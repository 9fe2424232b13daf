//! The RTMP SharedObject client on smol: connect to a server, use remote
//! SharedObjects, call server methods and answer the server's calls (see
//! [`adapter_core::client`] for how it works).
//!
//! ```no_run
//! use adapter_smol::client::{Client, ClientOptions};
//! use rtmp_proto::Value;
//!
//! # fn demo() -> Result<(), adapter_smol::client::ClientError> {
//! smol::block_on(async {
//!     let client = Client::connect("rtmp://127.0.0.1/chat/room1", ClientOptions::default()).await?;
//!     let so = client.shared_object("messages", false).await?;
//!     println!("version {}: {:?}", so.version(), so.snapshot());
//!
//!     let mut events = so.events(); // an async-broadcast receiver
//!     so.set("topic", "hello").await?; // resolves once the server confirms it
//!     so.send("newMessage", vec![Value::from("hi all")]).await?;
//!     while let Ok(event) = events.recv().await {
//!         println!("{event:?}");
//!     }
//!
//!     let answer = client.call("echo", vec![Value::from(42.0)]).await?;
//!     assert_eq!(answer, [Value::from(42.0)]);
//!     client.close().await;
//!     Ok(())
//! })
//! # }
//! ```

pub use adapter_core::client::{ClientError, ClientOptions, RemoteEvent};

use crate::Smol;

/// A connection to an RTMP server, on smol.
pub type Client = adapter_core::client::Client<Smol>;

/// A remote SharedObject in use; its events come as an
/// `async_broadcast::Receiver`.
pub type SharedObject = adapter_core::client::SharedObject<Smol>;

/// A method the server called on this client; they come through an
/// `async_channel::Receiver` ([`Client::incoming_calls`]).
pub type IncomingCall = adapter_core::client::IncomingCall<Smol>;
