/** Run by --jvm-main-class at JVM start. */
public class JwsgiMain {
    public static void main(String[] args) {
        JwsgiConformance.mainRan = "yes";
    }
}
