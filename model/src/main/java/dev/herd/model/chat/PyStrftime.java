package dev.herd.model.chat;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.now().strftime(fmt)} in the C locale, which transformers exposes to templates as {@code
 * strftime_now} (Llama 3.x prints "Today Date: 26 Jul 2024" with {@code "%d %b %Y"}). English names regardless of
 * the JVM's locale, because the prompt a model was trained on does not change with the server's locale.
 */
final class PyStrftime {
  private PyStrftime() {}

  static String format(LocalDateTime t, String format) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 >= format.length()) {
        sb.append(c);
        continue;
      }
      char d = format.charAt(++i);
      switch (d) {
        case 'Y' -> sb.append(t.getYear());
        case 'y' -> sb.append(two(t.getYear() % 100));
        case 'm' -> sb.append(two(t.getMonthValue()));
        case 'd' -> sb.append(two(t.getDayOfMonth()));
        case 'e' -> sb.append(String.format("%2d", t.getDayOfMonth()));
        case 'H' -> sb.append(two(t.getHour()));
        case 'I' -> sb.append(two(t.getHour() % 12 == 0 ? 12 : t.getHour() % 12));
        case 'M' -> sb.append(two(t.getMinute()));
        case 'S' -> sb.append(two(t.getSecond()));
        case 'f' -> sb.append(String.format("%06d", t.getNano() / 1000));
        case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
        case 'b', 'h' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
        case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
        case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
        case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
        case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
        case 'u' -> sb.append(t.getDayOfWeek().getValue());
        case 'w' -> sb.append(t.getDayOfWeek().getValue() % 7);
        case 'F' -> sb.append(format(t, "%Y-%m-%d"));
        case 'D' -> sb.append(format(t, "%m/%d/%y"));
        case 'T' -> sb.append(format(t, "%H:%M:%S"));
        case 'R' -> sb.append(format(t, "%H:%M"));
        case '%' -> sb.append('%');
        default -> sb.append('%').append(d);
      }
    }
    return sb.toString();
  }

  private static String two(int v) {
    return v < 10 ? "0" + v : Integer.toString(v);
  }
}
