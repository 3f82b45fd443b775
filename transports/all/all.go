// Package all registers every transport vmlua ships: import it for its side
// effect (each transport registers its URL scheme in init).
package all

import (
	_ "github.com/vmlua/vmlua/transports/file" // file://
	_ "github.com/vmlua/vmlua/transports/ftp"  // ftp://, ftps://
	_ "github.com/vmlua/vmlua/transports/nfs"  // nfs://
	_ "github.com/vmlua/vmlua/transports/s3"   // s3://
	_ "github.com/vmlua/vmlua/transports/sftp" // sftp://, scp://
	_ "github.com/vmlua/vmlua/transports/smb"  // smb://, cifs://
	_ "github.com/vmlua/vmlua/transports/vmfs" // vmfs://
)
