/**
 * Which invalid golden frames each generated decoder refuses (README
 * "Clients" has the same table in words). The polyglot test fails when a
 * decoder refuses more or less than this: a change in the documents or a
 * tool then shows here. Every decoder refuses a frame without a string
 * `type`, and a client frame of a type no client sends: the dispatch on
 * `type` does.
 */
const DISPATCH = ['client/unknown-type', 'client/no-type', 'server/no-type']

export const decodeRefusals = {
  // encoding/json with DisallowUnknownFields: wrong JSON types and extra fields; a missing field stays zero, an unknown enum value becomes the first constant.
  'modelina-go': [...DISPATCH, 'client/typing-extra-field', 'server/connected-user-number', 'server/application-event-data-array'],
  'quicktype-go': [...DISPATCH, 'client/typing-extra-field', 'server/connected-user-number', 'server/application-event-data-array'],
  // Constructors that read each field: missing fields and enum values, not JSON types.
  'modelina-python': [...DISPATCH, 'client/presence-offline', 'client/typing-no-data', 'server/presence-update-away', 'server/typing-start-no-user', 'server/error-no-message'],
  // from_dict asserts every type: missing fields, JSON types and enums; not extra fields or patterns.
  'quicktype-python': [...DISPATCH, 'client/presence-offline', 'client/typing-no-data', 'server/presence-update-away', 'server/typing-start-no-user', 'server/connected-user-number', 'server/error-no-message', 'server/application-event-data-array'],
  // Jackson: enums, extra fields, wrong container types; not missing fields (null) or a string where a number was.
  'modelina-java': [...DISPATCH, 'client/presence-offline', 'client/typing-extra-field', 'server/presence-update-away', 'server/application-event-data-array'],
  // Convert.toX checks the shape: missing fields, JSON types, enums, extra fields; not patterns.
  'quicktype-typescript': [...DISPATCH, 'client/presence-offline', 'client/typing-extra-field', 'client/typing-no-data', 'server/presence-update-away', 'server/typing-start-no-user', 'server/connected-user-number', 'server/error-no-message', 'server/application-event-data-array'],
}
