// The AssemblyScript SDK for wasmsock plugins (ABI v1). README.md next to this folder explains
// how to build a plugin; abi/ABI.md in the wasmsock repository is the contract.

import "./abort";

export {
  Kind, Status, Level, Message, Conn,
  isError, statusText, errorText, validCloseCode,
  broadcast, broadcastText, sendToUser,
  log, debug, info, warn, error,
  MAX_CLOSE_REASON, MAX_GROUP_NAME, USER_GROUP_PREFIX,
} from "./conn";

export {
  Verdict, ACCEPT, FLAG_RESUMED, rejectHTTP, rejectClose,
  onConnect, onMessage, onClose, onStart,
} from "./handlers";

export { decodeUTF8, encodeUTF8, bytesToString, stringToBytes, validSequence } from "./utf8";
