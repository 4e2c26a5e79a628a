<%@ Page Language="C#" %>
<script runat="server">
	void Page_Load(object sender, EventArgs e) {
		throw new InvalidOperationException("boom from boom.aspx");
	}
</script>
<html><body>never shown</body></html>
