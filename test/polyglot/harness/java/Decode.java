// Decodes every golden frame with the generated Java types and Jackson: a
// protocol message through its direction's interface (ServerFrame), whose
// @JsonSubTypes Modelina wrote from the discriminator; any other type as an
// application event, whose class is told to ignore that interface's type id
// (Jackson has no "default subtype" the document could name). Unknown fields
// are refused (Jackson's default). Each value is encoded again for the test
// to compare. Usage: java Decode <package> <dispatch.json> <vectors.json>...
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;

public class Decode {
  @JsonTypeInfo(use = JsonTypeInfo.Id.NONE)
  abstract static class WithoutTypeId {}

  public static void main(String[] args) throws Exception {
    ObjectMapper mapper = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL);
    JsonNode dispatch = mapper.readTree(new File(args[1]));
    for (JsonNode table : dispatch) {
      if (table.has("open")) mapper.addMixIn(Class.forName(args[0] + "." + table.get("open").asText()), WithoutTypeId.class);
    }
    for (int i = 2; i < args.length; i++) {
      for (JsonNode golden : mapper.readTree(new File(args[i]))) {
        ObjectNode out = mapper.createObjectNode();
        out.put("name", golden.get("name").asText());
        String direction = golden.get("direction").asText();
        out.put("direction", direction);
        JsonNode frame = golden.get("frame");
        JsonNode type = frame.get("type");
        JsonNode table = dispatch.get(direction);
        if (type == null || !type.isTextual()) {
          out.put("error", "no type");
        } else {
          JsonNode variant = table.get("types").has(type.asText()) ? table.get("types").get(type.asText()) : table.get("open");
          if (variant == null) {
            out.put("error", "not a type of this direction");
          } else {
            try {
              boolean open = !table.get("types").has(type.asText());
              Object value = mapper.treeToValue(frame, Class.forName(args[0] + "." + (open ? variant.asText() : table.get("union").asText())));
              out.put("variant", value.getClass().getSimpleName());
              out.set("json", mapper.valueToTree(value));
            } catch (Exception error) {
              out.put("error", error.getClass().getSimpleName() + ": " + error.getMessage().split("\n")[0]);
            }
          }
        }
        System.out.println(mapper.writeValueAsString(out));
      }
    }
  }
}
