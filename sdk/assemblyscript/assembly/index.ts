// The AssemblyScript SDK for wasmsock plugins (ABI v1). README.md next to this folder explains
// how to build a plugin; abi/ABI.md in the wasmsock repository is the contract.

import "./abort";

export {
  ABI_VERSION, Kind, Status, Level, statusText, validCloseCode,
  FLAG_RESUMED, MAX_CLOSE_REASON, MAX_GROUP_NAME, MAX_CONN_GET_KEY, USER_GROUP_PREFIX,
  EVENT_MESSAGE, EVENT_REPLY, EVENT_ERROR, MAX_SUBJECT, MAX_QUEUE_NAME,
  DEFAULT_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS,
  MAX_TIMER_NAME, MAX_TIMERS, MAX_TIMER_DELAY, MAX_ATTACHMENT, MAX_USER,
  MAX_KV_KEY, MAX_KV_VALUE, MAX_KV_ENTRIES, MAX_KV_BYTES,
} from "./abi";

export { kvGet, kvSet, kvCas, kvDelete, kvStatus, kvGetText, kvSetText, kvCasText } from "./kv";

export {
  Event, publish, publishText, subscribe, unsubscribe, request, requestText,
} from "./bus";

export {
  Message, Conn,
  isError, errorText,
  broadcast, broadcastText, sendToUser, after, every, cancelTimer,
  Member, groupSize, members,
  log, debug, info, warn, error,
} from "./conn";

export {
  Verdict, ACCEPT, rejectHTTP, rejectClose,
  onConnect, onMessage, onClose, onStart, onEvent, onTimer,
} from "./handlers";

export { decodeUTF8, encodeUTF8, bytesToString, stringToBytes, validSequence } from "./utf8";
