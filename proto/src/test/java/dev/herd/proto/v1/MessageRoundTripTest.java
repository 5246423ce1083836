package dev.herd.proto.v1;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every message of the contracts survives serialization with all of its fields. */
class MessageRoundTripTest {

    /** The generated file descriptors, one per .proto file of herd/v1. */
    private static final List<FileDescriptor> FILES = List.of(
            HandshakeProto.getDescriptor(),
            ActivationProto.getDescriptor(),
            SamplingProto.getDescriptor(),
            ControlProto.getDescriptor(),
            ShardServiceProto.getDescriptor(),
            WeightsProto.getDescriptor());

    static Stream<Named<Message>> samples() {
        return Samples.all().stream().map(m -> Named.of(caseName(m), m));
    }

    /** The type name, plus the set oneof case for messages that have one. */
    private static String caseName(Message message) {
        StringBuilder name = new StringBuilder(message.getDescriptorForType().getName());
        for (OneofDescriptor oneof : message.getDescriptorForType().getRealOneofs()) {
            FieldDescriptor set = message.getOneofFieldDescriptor(oneof);
            name.append('.').append(set == null ? "(none)" : set.getName());
        }
        return name.toString();
    }

    @Test
    void everyProtoFileOnTheClasspathIsCovered() throws IOException, URISyntaxException {
        // The build copies the .proto sources next to the classes; a new file not listed in FILES fails here.
        URL dir = getClass().getResource("/herd/v1");
        assertTrue(dir != null, "herd/v1/*.proto not on the test classpath");
        Set<String> onClasspath;
        try (Stream<Path> files = Files.list(Path.of(dir.toURI()))) {
            onClasspath = files.map(p -> "herd/v1/" + p.getFileName())
                    .filter(name -> name.endsWith(".proto"))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
        Set<String> described = FILES.stream().map(FileDescriptor::getName).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(onClasspath, described);
        for (FileDescriptor file : FILES) {
            assertEquals("herd.v1", file.getPackage(), file.getName());
            assertEquals("dev.herd.proto.v1", file.getOptions().getJavaPackage(), file.getName());
            assertTrue(file.getOptions().getJavaMultipleFiles(), file.getName());
        }
    }

    @Test
    void everyMessageTypeAndOneofCaseHasASample() {
        Set<String> declared = new TreeSet<>();
        Set<String> oneofCases = new TreeSet<>();
        for (FileDescriptor file : FILES) {
            for (Descriptor type : file.getMessageTypes()) {
                declared.add(type.getFullName());
                for (OneofDescriptor oneof : type.getRealOneofs()) {
                    oneof.getFields().forEach(f -> oneofCases.add(f.getFullName()));
                }
            }
        }
        Set<String> sampled = new TreeSet<>();
        Set<String> sampledCases = new TreeSet<>();
        for (Message sample : Samples.all()) {
            sampled.add(sample.getDescriptorForType().getFullName());
            for (OneofDescriptor oneof : sample.getDescriptorForType().getRealOneofs()) {
                FieldDescriptor set = sample.getOneofFieldDescriptor(oneof);
                if (set != null) {
                    sampledCases.add(set.getFullName());
                }
            }
        }
        assertEquals(declared, sampled, "message types without a sample, or samples of unknown types");
        assertEquals(oneofCases, sampledCases, "oneof cases without a sample");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void everyFieldOfTheSampleIsSet(Message sample) {
        List<String> unset = new ArrayList<>();
        collectUnset(sample, sample.getDescriptorForType().getName(), unset);
        assertEquals(List.of(), unset, "fields left at their default, so their round trip proves nothing");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void roundTripsThroughBytes(Message sample) throws InvalidProtocolBufferException {
        byte[] bytes = sample.toByteArray();
        Message parsed = sample.getParserForType().parseFrom(bytes);
        assertEquals(sample, parsed);
        assertTrue(parsed.getUnknownFields().asMap().isEmpty(), "the reader did not know a field the writer wrote");
        // A reader built from the descriptor alone (what any other language's protoc output does) sees
        // the same fields and writes the same bytes.
        DynamicMessage dynamic = DynamicMessage.parseFrom(sample.getDescriptorForType(), bytes);
        assertEquals(sample.getAllFields().keySet(), dynamic.getAllFields().keySet());
        assertEquals(sample.toByteString(), dynamic.toByteString());
    }

    @Test
    void lengthDelimitedSamplesReadBackInOrderFromOneStream() throws IOException {
        // Framing several messages on one byte stream is what a recorded trace or a replay file does.
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Message sample : Samples.all()) {
            sample.writeDelimitedTo(out);
        }
        InputStream in = new ByteArrayInputStream(out.toByteArray());
        for (Message sample : Samples.all()) {
            assertEquals(sample, sample.getParserForType().parseDelimitedFrom(in));
        }
        assertEquals(-1, in.read());
    }

    /** Adds the path of every field of {@code message} (recursively) that is at its default value. */
    private static void collectUnset(Message message, String path, List<String> unset) {
        Descriptor type = message.getDescriptorForType();
        for (FieldDescriptor field : type.getFields()) {
            OneofDescriptor oneof = field.getRealContainingOneof();
            if (oneof != null) {
                continue; // checked below: exactly one case is set
            }
            String fieldPath = path + "." + field.getName();
            if (field.isRepeated()) {
                int count = message.getRepeatedFieldCount(field);
                if (count == 0) {
                    unset.add(fieldPath);
                }
                if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                    for (int i = 0; i < count; i++) {
                        collectUnset((Message) message.getRepeatedField(field, i), fieldPath + "[" + i + "]", unset);
                    }
                }
            } else if (!message.hasField(field)) {
                unset.add(fieldPath);
            } else if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                collectUnset((Message) message.getField(field), fieldPath, unset);
            }
        }
        for (OneofDescriptor oneof : type.getRealOneofs()) {
            FieldDescriptor set = message.getOneofFieldDescriptor(oneof);
            if (set == null) {
                unset.add(path + "." + oneof.getName());
            } else if (set.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                collectUnset((Message) message.getField(set), path + "." + set.getName(), unset);
            }
        }
    }
}
