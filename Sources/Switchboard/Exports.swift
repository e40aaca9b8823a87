// The protocol types (messages, payloads, JSON, serializers) are part of the
// library's vocabulary: `import Switchboard` brings them along.
@_exported import SwitchboardProtocol
