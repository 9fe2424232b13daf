// rtmp-so-client: Remote SharedObjects in the browser (and in Node), over
// the rtmp-so server's WebSocket protocol rtmp-so.v1.
export {
  Emitter,
  NetConnection,
  SharedObject,
  SUBPROTOCOL,
  type NetConnectionEvents,
  type NetConnectionOptions,
  type ReconnectOptions,
  type SharedObjectEvents,
  type StatusInfo,
  type SyncChange,
  type WebSocketFactory,
  type WebSocketLike,
} from "./client.js";
export { AmfInt, AmfTagged, CLASS_NAME, SEALED_COUNT, classNameOf, fromJson, type Json, toJson, typed } from "./values.js";
