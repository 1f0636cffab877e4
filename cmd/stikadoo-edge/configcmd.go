package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// cmdConfigCheck validates the configuration as serve would read it.
func cmdConfigCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config check", "[--config FILE]")
	file := fs.String("config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	c, err := loadConfig(configPath(*file), flagOverrides{}, os.Getenv)
	if err != nil {
		return err
	}
	if c.File == "" {
		fmt.Fprintln(stdout, "ok: no configuration file, built-in defaults")
		return nil
	}
	fmt.Fprintf(stdout, "ok: %s\n", c.File)
	return nil
}

// cmdConfigPrint prints the effective configuration, or the documented
// defaults.
func cmdConfigPrint(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config print", "[--config FILE] [--defaults]")
	file := fs.String("config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
	defaults := fs.Bool("defaults", false, "print the documented default configuration file instead")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	if *defaults {
		_, err := io.WriteString(stdout, defaultConfigFile)
		return err
	}
	c, err := loadConfig(configPath(*file), flagOverrides{}, os.Getenv)
	if err != nil {
		return err
	}
	b, err := c.encodeTOML(true)
	if err != nil {
		return err
	}
	src := c.File
	if src == "" {
		src = "no file, built-in defaults"
	}
	fmt.Fprintf(stdout, "# Effective stikadoo-edge configuration (%s), secrets masked.\n\n", src)
	_, err = stdout.Write(b)
	return err
}
